"""Security headers on every HTTP response, as precomputed tuples (decision 0026).

Every response: nosniff, no referrer, no framing, and a CSP that loads nothing (JSON needs
nothing). An HTML page registered by path gets its own CSP instead (see `pages`); nchat's
own pages (`web/`) set `PAGE_POLICY` themselves. Responses that carry tokens are never
stored by a cache. A header the response set itself wins."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nchat.errors import error_body

Header = tuple[bytes, bytes]

CSP = b"content-security-policy"
API_POLICY = b"default-src 'none'; frame-ancestors 'none'"
# nchat's own pages (the web client, the API docs): scripts, styles, fonts, workers and
# requests of this origin only; no inline script or style, no eval; images also from data:
# and blob: URLs the page makes. `connect-src 'self'` covers this origin's ws:/wss: in
# CSP Level 3 browsers (tests/web/ opens /api/ws under it in Chromium).
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "font-src 'self'; connect-src 'self'; worker-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
COMMON: tuple[Header, ...] = (
    (b"x-content-type-options", b"nosniff"),
    # Links in messages lead anywhere: the pages they leave (channel URLs) stay private.
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
NO_STORE: Header = (b"cache-control", b"no-store")
# The responses that carry an access or refresh token, and the app configuration (its
# integrations section may hold credentials).
TOKEN_PATHS = frozenset(
    {"/api/auth/signup", "/api/auth/signin", "/api/auth/refresh", "/api/setup", "/api/admin/config"}
)

_INTERNAL_ERROR = orjson.dumps(error_body("internal_error", "Something went wrong on our side"))


class Plan:
    """The headers of one path: for JSON and anything else, and for its HTML page."""

    __slots__ = ("html", "names", "other")

    def __init__(self, other: Sequence[Header], html: Sequence[Header] | None = None) -> None:
        self.other = list(other)
        self.html = list(html) if html is not None else None
        self.names = frozenset(name for name, _ in [*self.other, *(self.html or ())])

    def merged(self, headers: Iterable[Header]) -> list[Header]:
        own = headers if isinstance(headers, list | tuple) else list(headers)
        extra = self.other
        clash = False
        for name, value in own:
            if name in self.names:
                clash = True
            elif (
                name == b"content-type" and self.html is not None and value.startswith(b"text/html")
            ):
                extra = self.html
        if clash:
            taken = {name for name, _ in own}
            return [*own, *(header for header in extra if header[0] not in taken)]
        return [*own, *extra]


class SecurityHeaders:
    """Pure ASGI: appends the security headers to every HTTP response start.

    Starlette answers an unhandled exception from outside all middleware, so that 500
    would go out bare: it is sent from here instead (the app's handler still logs it)."""

    def __init__(
        self,
        app: ASGIApp,
        pages: Mapping[str, str] | None = None,
        no_store: Iterable[str] = TOKEN_PATHS,
    ) -> None:
        self.app = app
        api = (*COMMON, (CSP, API_POLICY))
        self.default = Plan(api)
        self.plans = {path: Plan((*api, NO_STORE)) for path in no_store}
        for path, policy in (pages or {}).items():
            self.plans[path] = Plan(api, (*COMMON, (CSP, policy.encode())))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        plan = self.plans.get(scope["path"], self.default)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = plan.merged(message.get("headers", ()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            if not started:
                await send_with_headers(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(_INTERNAL_ERROR)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": _INTERNAL_ERROR})
            raise
