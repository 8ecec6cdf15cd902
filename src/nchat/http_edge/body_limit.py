"""Bounded request bodies: 413 before reading when Content-Length is too large, and as soon
as a streamed body passes the limit.

Pure ASGI and without buffering. A body whose Content-Length is within the limit is passed
through untouched: the HTTP server delivers no more than the declared length (more would be
the next request on the connection), so only bodies without a declared length are counted."""

from __future__ import annotations

import sys
from collections.abc import Mapping

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nchat.errors import NchatError

# A limit no body reaches: for routes that bound their bodies themselves while streaming.
UNLIMITED_BYTES = 2**62
# HTTP versions whose requests carry a body only with Content-Length or Transfer-Encoding;
# HTTP/2 and 3 may stream one with neither.
_FRAMED_VERSIONS = frozenset({"1.0", "1.1"})


class BodyTooLarge(NchatError):
    status_code = 413
    code = "body_too_large"
    message = "The request body is too large"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(details={"max_bytes": max_bytes})


class Refusal:
    """The 413 of one limit, encoded once."""

    __slots__ = ("body", "headers", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.body = orjson.dumps(BodyTooLarge(limit).envelope())
        self.headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
            # The client may still be sending the rest of the body: end the connection
            # instead of reading it to find the next request.
            (b"connection", b"close"),
        ]

    async def send(self, send: Send) -> None:
        # Fresh messages each time: middleware further out rewrites their headers in place.
        await send({"type": "http.response.start", "status": 413, "headers": [*self.headers]})
        await send({"type": "http.response.body", "body": self.body})


class BodyLimit:
    """Pure ASGI: refuses HTTP request bodies over `max_bytes`; WebSockets pass untouched.

    `prefixes` gives paths their own limit (an upload route, say): the first that matches
    wins. A prefix ending in `/` matches every path under it; any other, that path only."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, prefixes: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.refusal = Refusal(max_bytes)
        self.prefixed = tuple((prefix, Refusal(n)) for prefix, n in (prefixes or {}).items())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal
        path = scope["path"]
        for prefix, own in self.prefixed:
            if path == prefix or (prefix.endswith("/") and path.startswith(prefix)):
                refusal = own
                break
        declared: bytes | None = None
        streamed = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                streamed = True
        if declared is not None and not streamed:
            length = _length(declared)
            if length > refusal.limit:
                await refusal.send(send)
                return
            if length >= 0:
                await self.app(scope, receive, send)
                return
        elif not streamed and scope.get("http_version") in _FRAMED_VERSIONS:
            await self.app(scope, receive, send)  # no body at all
            return
        await Counted(refusal, receive, send).run(self.app, scope)


class Counted:
    """One streamed body, counted as the app reads it."""

    __slots__ = ("_receive", "_send", "over", "refusal", "refused", "seen", "started")

    def __init__(self, refusal: Refusal, receive: Receive, send: Send) -> None:
        self.refusal = refusal
        self._receive = receive
        self._send = send
        self.seen = 0
        self.over = False
        self.started = False  # the app's response began before the limit was passed
        self.refused = False  # the 413 went out

    async def run(self, app: ASGIApp, scope: Scope) -> None:
        try:
            await app(scope, self.receive, self.send)
        except Exception:
            # Whatever the app made of the cut-off body (a parse error, an exception group
            # from a task group) is answered with the 413, unless a response already began.
            if not self.over or self.started:
                raise
        if self.over and not self.refused and not self.started:
            await self._refuse()

    async def receive(self) -> Message:
        if self.over:
            # Nothing more is read: to the app the client has gone.
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.refusal.limit:
                self.over = True
                raise BodyTooLarge(self.refusal.limit)
        return message

    async def send(self, message: Message) -> None:
        if self.over and not self.started:
            # The app's own answer to the cut-off body is replaced by the 413.
            if not self.refused:
                await self._refuse()
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def _refuse(self) -> None:
        self.refused = True
        await self.refusal.send(self._send)


# More digits than any limit has: too large without converting (Python refuses to convert
# decimal strings past 4,300 digits, and a header may hold far more).
_MAX_DIGITS = 18


def _length(value: bytes) -> int:
    """The declared length, or -1 when it is not a plain decimal number."""
    if not value.isdigit():
        return -1
    if len(value) > _MAX_DIGITS:
        return sys.maxsize
    return int(value)
