"""Which web origins may use the API from a browser: CORS for HTTP, an Origin check for
WebSockets (decision 0026).

Browsers enforce CORS on HTTP but not on WebSockets: any page may open a socket to any
server, so the server checks the Origin header itself. A socket without Origin comes from
a native app or a tool, not from a page, and is let through."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import structlog
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from nchat.errors import error_body

logger = structlog.get_logger("nchat.http")

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Auth is a bearer token, never a cookie: no credentials mode.
REQUEST_HEADERS = ("Authorization", "Content-Type", "X-Request-ID")
EXPOSED_HEADERS = ("Retry-After", "X-Request-ID")
_DEFAULT_PORTS = {"http": ":80", "ws": ":80", "https": ":443", "wss": ":443"}
# Close before accepting: the server answers the upgrade with 403.
_POLICY_VIOLATION = 1008

_REFUSED = orjson.dumps(
    error_body("origin_not_allowed", "This origin may not open WebSockets to this server")
)


def cors(app: ASGIApp, origins: Sequence[str]) -> ASGIApp:
    """Starlette's CORS middleware for the configured origins."""
    return CORSMiddleware(
        app,
        allow_origins=[normal_origin(origin) for origin in origins],
        allow_methods=METHODS,
        allow_headers=REQUEST_HEADERS,
        allow_credentials=False,
        expose_headers=EXPOSED_HEADERS,
    )


def normal_origin(origin: str) -> str:
    """As browsers send it: lower case, no trailing slash."""
    return origin.strip().rstrip("/").lower()


class WebSocketOrigin:
    """Pure ASGI: refuses a WebSocket whose Origin is neither this server (its Host header)
    nor one of `origins`; HTTP passes untouched."""

    def __init__(self, app: ASGIApp, origins: Sequence[str] = ()) -> None:
        self.app = app
        self.origins = frozenset(normal_origin(origin) for origin in origins)
        self.any = "*" in self.origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and not self.any:
            origin: bytes | None = None
            host = b""
            for name, value in scope["headers"]:
                if name == b"origin":
                    origin = value
                elif name == b"host":
                    host = value
            if origin is not None and not self.allows(origin.decode("latin-1"), host):
                await _refuse(scope, receive, send, origin.decode("latin-1"))
                return
        await self.app(scope, receive, send)

    def allows(self, origin: str, host: bytes) -> bool:
        origin = origin.lower()
        if origin in self.origins:
            return True
        scheme, sep, netloc = origin.partition("://")
        if not sep or not host:
            return False
        server = host.decode("latin-1").lower()
        if netloc == server:
            return True
        # Browsers leave the default port out of Origin; some clients put it in Host.
        port = _DEFAULT_PORTS.get(scheme)
        return port is not None and server.endswith(port) and netloc == server[: -len(port)]


async def _refuse(scope: Scope, receive: Receive, send: Send, origin: str) -> None:
    logger.info("websocket origin refused", origin=origin, path=scope["path"])
    await receive()  # websocket.connect
    if "websocket.http.response" in (scope.get("extensions") or {}):
        # The refusal in the error envelope, where the server can send a body.
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_REFUSED)).encode()),
        ]
        await send({"type": "websocket.http.response.start", "status": 403, "headers": headers})
        await send({"type": "websocket.http.response.body", "body": _REFUSED})
        return
    await send({"type": "websocket.close", "code": _POLICY_VIOLATION})
