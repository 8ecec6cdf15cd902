"""One frame, framed once, written to many sockets.

An event goes to every socket of its channel as the same bytes. Sent the ordinary way, each
socket's task wakes, and Starlette, uvicorn and websockets frame the text again for each
socket: at a thousand subscribers that cost the server more CPU than the writes themselves.
Where the server is uvicorn's websockets-sansio protocol and the socket negotiated no
extension (without compression the bytes on the wire are the same for every socket), the
hub frames an event once and hands the bytes straight to each socket's transport.

Anything else (another ASGI server, a compressed socket, a socket whose transport pushed
back) falls back to the socket's queue and the ordinary send; decision 0017."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State

# Where the server's own `send` for a WebSocket is kept in the scope (see ServerSend).
SERVER_SEND = "nchat.server_send"


class Outgoing:
    """A frame's JSON text, and its wire bytes built on first use."""

    __slots__ = ("_wire", "payload")

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self._wire: bytes | None = None

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = Frame(Opcode.TEXT, self.payload).serialize(mask=False)
        return self._wire


class ServerSend:
    """Pure ASGI: keeps the server's `send` of a WebSocket in its scope, before middleware
    or the framework wrap it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope[SERVER_SEND] = send
        await self.app(scope, receive, send)


class Direct:
    """Writes whole frames to one socket's transport while the socket is open and its
    transport takes more; otherwise says no and the caller queues the frame."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self.protocol = protocol

    def write(self, frame: Outgoing) -> bool:
        protocol = self.protocol
        if (
            protocol.close_sent
            or not protocol.writable.is_set()
            or protocol.conn.state is not State.OPEN
            or protocol.transport.is_closing()
        ):
            return False
        protocol.transport.write(frame.wire)
        return True


# What Direct uses of uvicorn's protocol; without any of them there is no direct path.
_MEMBERS = ("close_sent", "conn", "transport", "writable")


def direct(scope: Scope) -> Direct | None:
    """The socket's direct path, when its server and extensions allow one."""
    protocol = getattr(scope.get(SERVER_SEND), "__self__", None)
    if not isinstance(protocol, WebSocketsSansIOProtocol):
        return None
    if not all(hasattr(protocol, name) for name in _MEMBERS) or protocol.conn.extensions:
        return None
    return Direct(protocol)
