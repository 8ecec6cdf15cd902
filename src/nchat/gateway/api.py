"""The WebSocket gateway, `GET /api/ws`.

Frames are JSON. The server sends `hello` (with the cursor the stream continues from and
the heartbeat interval), then `event` frames, `ping` every heartbeat, `typing` signals (of
a channel, or of a thread in it: `thread_id`), `presence` changes of the users the socket
subscribed to (and of its own user), `presence_state` answering a subscription, `error` for
a client frame it refuses, and `resync_required` for a cursor older than the log keeps.
Clients send `ping`, `pong`, `typing` (`channel_id`, and `thread_id` when writing a reply),
`presence` (their status), `presence_subscribe` (the users whose presence they show;
replaces the previous list) and `auth`: as the first frame it authenticates the socket
(preferred to a token in the query string, which proxies log); later, a fresh access token
of the same user extends the socket's life past the first token's expiry (`auth_ok`).

Close codes: 4001 bad or missing token, or access ended (token expired without a fresh
one, signed out, session revoked, user deactivated: refresh and reconnect, or sign in),
4002 no frame from the client for two heartbeats, 4008 too slow to keep up (resume from the
last cursor), 4009 resync required, 4029 too many sockets for the user or frames too fast,
1012 the server is restarting (reconnect, anywhere), 1003 a binary frame (frames are JSON
text)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from typing import Any

import orjson
import sqlalchemy as sa
import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat import appstate
from nchat.appstate import Key
from nchat.auth.deps import Principal, resolve_token
from nchat.auth.session_cache import SESSION_CACHE
from nchat.auth.streams import STREAM_GUARD, StreamGuard
from nchat.config import SETTINGS, Settings
from nchat.db.engine import ENGINE
from nchat.db.ids import uuid7
from nchat.errors import NchatError, Unauthorized, ValidationFailed
from nchat.limits import Limits, limits_of
from nchat.maintenance import service as maintenance
from nchat.messages import service as messages
from nchat.realtime import log, presence, wire
from nchat.realtime.bus import BUS, Bus
from nchat.realtime.cursor import Position
from nchat.realtime.hub import HUB, Hub, Subscriber, event_frame, event_position
from nchat.realtime.presence import KEEPER
from nchat.realtime.throttle import Bucket
from nchat.realtime.topics import EPHEMERAL
from nchat.tables.channels import channel_members

logger = structlog.get_logger("nchat.gateway")
router = APIRouter()

AUTH_TIMEOUT_S = 10.0
TYPING_TTL_S = 6
TYPING_MIN_INTERVAL_S = 2.0
REPLAY_BATCH = 500
CLOSE_TIMEOUT_S = 10.0

CLOSE_BAD_TOKEN = 4001
CLOSE_IDLE = 4002
CLOSE_SLOW = 4008
CLOSE_RESYNC = 4009
CLOSE_TOO_MANY = 4029
# Frames a client may send: a burst, then this many a second (far above what a client
# needs: a ping per heartbeat, typing every few seconds, a status change now and then).
FRAME_RATE_PER_S = 10.0
FRAME_BURST = 50.0
# asyncio's timers cannot wait forever: a token without expiry is looked at again hourly.
MAX_WAIT_S = 3600.0
CLOSE_RESTART = 1012
CLOSE_UNSUPPORTED = 1003


class Gone(Exception):
    """The client left or has to be closed; carries the close code and its reason."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.reason = reason


# Overrides NCHAT_WS_HEARTBEAT_S where set: tests use sub-second heartbeats, below what the
# setting allows.
HEARTBEAT_S: Key[float] = Key("ws_heartbeat_s")


def heartbeat_of(app: Any) -> float:
    return appstate.find(app, HEARTBEAT_S, appstate.get(app, SETTINGS).ws_heartbeat_s)


@router.websocket("/api/ws")
async def websocket_endpoint(ws: WebSocket) -> None:
    await ws.accept()
    app = ws.app
    session = Session(
        ws,
        engine=appstate.get(app, ENGINE),
        hub=appstate.get(app, HUB),
        bus=appstate.get(app, BUS),
        settings=appstate.get(app, SETTINGS),
        keeper=appstate.get(app, KEEPER),
        guard=appstate.get(app, STREAM_GUARD),
        limits=limits_of(app),
        heartbeat_s=heartbeat_of(app),
    )
    code, reason = 1000, None
    try:
        await session.run()
    except Gone as gone:
        code, reason = gone.code, gone.reason
    except WebSocketDisconnect:
        return
    finally:
        await session.close()
    # The close frame queues behind unsent data; a client that never reads again is left to
    # the server's own connection teardown.
    with contextlib.suppress(RuntimeError, WebSocketDisconnect, TimeoutError):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await ws.close(code, reason)


class Session:
    def __init__(
        self,
        ws: WebSocket,
        *,
        engine: AsyncEngine,
        hub: Hub,
        bus: Bus,
        settings: Settings,
        keeper: presence.Keeper,
        guard: StreamGuard,
        limits: Limits,
        heartbeat_s: float,
    ) -> None:
        self.ws = ws
        self.guard = guard
        self.limits = limits
        self.engine = engine
        self.hub = hub
        self.bus = bus
        self.settings = settings
        self.keeper = keeper
        self.heartbeat_s = heartbeat_s
        self.sub: Subscriber | None = None
        self.principal: Principal | None = None
        self.last_heard = time.monotonic()
        # Channel -> the thread (None: the channel itself) and time of the last typing sent.
        self.typing_sent: dict[uuid.UUID, tuple[uuid.UUID | None, float]] = {}
        self.status: str | None = None  # the last status this socket recorded
        self.connection_id = uuid7()
        self.reauthed = asyncio.Event()
        self.frames = Bucket(FRAME_RATE_PER_S, FRAME_BURST)

    async def close(self) -> None:
        if self.sub is not None:
            self.hub.unregister(self.sub)
            self.sub = None
        if self.principal is not None:
            self.keeper.discard(self.connection_id)
            with contextlib.suppress(SQLAlchemyError, OSError):
                await self._presence(None, leaving=True)

    async def run(self) -> None:
        self.principal = await self._authenticate()
        try:
            since = self._since()
        except NchatError as exc:  # too old for the log, or not a cursor at all
            await self._send({"type": "resync_required", "reason": exc.code})
            raise Gone(CLOSE_RESYNC) from exc
        async with self.engine.connect() as conn:
            if self.principal.role not in self.settings.rate_limit_exempt_roles:
                await self._check_socket_count(conn)
            channels = await _member_channels(conn, self.principal.id)
        await self.hub.begun()
        # Registered before the replay: whatever commits meanwhile is buffered, not lost.
        self.sub, start = self.hub.register(
            self.principal.id, channels, since, session_id=self.principal.session_id
        )
        # A revocation that committed after the token was checked and before the guard
        # could see this stream would otherwise go unnoticed until its next sweep.
        await self.guard.check([self.sub])
        if self.sub.ended.is_set():
            raise Gone(CLOSE_BAD_TOKEN, "session ended")
        cursor = since or start
        # Read after registering: a change committed since comes as an event.
        async with self.engine.connect() as conn:
            paused = await maintenance.current(conn)
        await self._presence("online")
        await self._send(
            {
                "type": "hello",
                "cursor": cursor.encode(),
                "heartbeat_s": self.heartbeat_s,
                "user_id": str(self.principal.id),
                "expires_in": self._expires_in(),
                "maintenance": maintenance.to_data(paused).model_dump(mode="json"),
            }
        )
        if since is not None and since < start:
            await self._replay(since, start)
        await self._pump()

    # -- setup ---------------------------------------------------------------
    async def _authenticate(self) -> Principal:
        token = self.ws.query_params.get("token")
        if not token:
            try:
                async with asyncio.timeout(AUTH_TIMEOUT_S):
                    first = orjson.loads(await self._receive_text())
            except (TimeoutError, orjson.JSONDecodeError) as exc:
                raise Gone(CLOSE_BAD_TOKEN) from exc
            if not isinstance(first, dict) or first.get("type") != "auth":
                raise Gone(CLOSE_BAD_TOKEN)
            token = str(first.get("token") or "")
        try:
            async with self.engine.connect() as conn:
                return await resolve_token(
                    conn, token or None, self.settings, appstate.of(self.ws, SESSION_CACHE)
                )
        except NchatError as exc:
            raise Gone(CLOSE_BAD_TOKEN) from exc

    async def _check_socket_count(self, conn: Any) -> None:
        """At most NCHAT_WS_MAX_PER_USER sockets per user, counted on every node."""
        assert self.principal is not None
        limit = self.settings.ws_max_per_user
        if await presence.open_sockets(conn, self.principal.id, self.keeper.grace_s) >= limit:
            refusal = NchatError(
                f"At most {limit} open sockets per user",
                code="too_many_sockets",
                details={"limit": limit},
            )
            await self._send({"type": "error", "for": "connect", **refusal.envelope()})
            raise Gone(CLOSE_TOO_MANY, "too many sockets")

    def _expires_in(self) -> int | None:
        assert self.principal is not None
        if self.principal.expires_at == math.inf:
            return None
        return max(0, int(self.principal.expires_at - time.time()))

    def _since(self) -> Position | None:
        raw = self.ws.query_params.get("since")
        if not raw:
            return None
        position = Position.decode(raw)
        log.check_retention(position, self.settings.event_retention_s)
        return position

    async def _replay(self, since: Position, until: Position) -> None:
        """What this user missed between their cursor and the hub's position."""
        assert self.principal is not None
        after = since
        while True:
            async with self.engine.connect() as conn:
                rows, end, more = await log.read(
                    conn, after, limit=REPLAY_BATCH, user_id=self.principal.id, until=until
                )
            for row in rows:
                await self.ws.send_text(event_frame(row, event_position(row)).decode())
            after = end
            if not more:
                return

    # -- live ----------------------------------------------------------------
    async def _pump(self) -> None:
        assert self.sub is not None
        tasks = [
            asyncio.create_task(coro)
            for coro in (
                self._send_loop(),
                self._receive_loop(),
                self._heartbeat_loop(),
                self._watch(),
            )
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _send_loop(self) -> None:
        sub = self.sub
        assert sub is not None
        sub.direct = wire.direct(self.ws.scope)
        while True:
            frame = await sub.queue.get()
            sub.sending = True
            await self.ws.send_text(frame.decode())
            sub.sending = False

    async def _watch(self) -> None:
        """Ends the session when the socket falls behind, the server shuts down, access ends
        or the token runs out without a fresh one, even while a send is stuck on a client
        that stopped reading."""
        sub = self.sub
        assert sub is not None and self.principal is not None
        stops = {
            asyncio.ensure_future(event.wait())
            for event in (sub.overflowed, sub.closing, sub.ended)
        }
        try:
            while not any(stop.done() for stop in stops):
                remaining = self.principal.expires_at - time.time()
                if remaining <= 0:
                    raise Gone(CLOSE_BAD_TOKEN, "token expired")
                self.reauthed.clear()
                renewed = asyncio.ensure_future(self.reauthed.wait())
                try:
                    await asyncio.wait(
                        {*stops, renewed},
                        timeout=min(remaining, MAX_WAIT_S),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    renewed.cancel()
        finally:
            for stop in stops:
                stop.cancel()
        if sub.overflowed.is_set():
            raise Gone(CLOSE_SLOW)
        if sub.ended.is_set():
            raise Gone(CLOSE_BAD_TOKEN, "session ended")
        raise Gone(CLOSE_RESTART)

    async def _receive_text(self) -> str:
        """The next text frame. Frames are JSON text; a binary one ends the session with
        1003 (unsupported data) rather than an error inside the server."""
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        text = message.get("text")
        if text is None:
            raise Gone(CLOSE_UNSUPPORTED)
        return str(text)

    async def _receive_loop(self) -> None:
        while True:
            raw = await self._receive_text()
            self.last_heard = time.monotonic()
            if not self.frames.take():
                raise Gone(CLOSE_TOO_MANY, "too many frames")
            try:
                frame = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(frame, dict):
                await self._on_client_frame(frame)

    async def _heartbeat_loop(self) -> None:
        # Presence is kept fresh for all of the process's sockets at once (presence.Keeper):
        # nothing here waits on the database, so pings go out on time.
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if time.monotonic() - self.last_heard > 2 * self.heartbeat_s:
                raise Gone(CLOSE_IDLE)
            await self._send({"type": "ping"})

    async def _on_client_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ping":
            await self._send({"type": "pong"})
        elif kind == "typing":
            await self._typing(frame.get("channel_id"), frame.get("thread_id"))
        elif kind == "presence" and frame.get("status") in presence.STATUSES:
            status = str(frame["status"])
            # Re-saying the socket's status changes nothing: the keeper keeps its row fresh.
            if status != self.status and await self._signal_allowed("presence"):
                await self._presence(status)
        elif kind == "presence_subscribe":
            if await self._signal_allowed("presence_subscribe"):
                await self._presence_subscribe(frame.get("user_ids"))
        elif kind == "auth":
            await self._reauthenticate(frame.get("token"))

    async def _reauthenticate(self, token: object) -> None:
        """A fresh access token of the same user: the socket lives on past the old one."""
        assert self.sub is not None and self.principal is not None
        try:
            async with self.engine.connect() as conn:
                principal = await resolve_token(
                    conn,
                    str(token) if token else None,
                    self.settings,
                    appstate.of(self.ws, SESSION_CACHE),
                )
            if principal.id != self.principal.id:
                raise Unauthorized("The token is another user's", code="token_user_mismatch")
        except NchatError as exc:
            await self._send({"type": "error", "for": "auth", **exc.envelope()})
            return
        self.principal = principal
        self.sub.session_id = principal.session_id
        self.reauthed.set()
        await self._send({"type": "auth_ok", "expires_in": self._expires_in()})

    async def _signal_allowed(self, kind: str) -> bool:
        """Typing, status changes and presence subscriptions share one budget per user, on
        every node (NCHAT_RATE_SIGNALS_*); a refused frame is answered, not acted on."""
        assert self.principal is not None
        try:
            await self.limits.check(self.limits.rules.signals, self.principal)
        except NchatError as exc:
            await self._send({"type": "error", "for": kind, **exc.envelope()})
            return False
        return True

    async def _presence_subscribe(self, raw: object) -> None:
        """Replace the users whose presence changes this socket hears, and say where they
        stand now."""
        assert self.sub is not None
        try:
            if not isinstance(raw, list):
                raise ValidationFailed("user_ids must be a list of user ids", code="invalid_id")
            user_ids = presence.user_ids_from(raw)
        except NchatError as exc:
            await self._send({"type": "error", "for": "presence_subscribe", **exc.envelope()})
            return
        self.hub.watch(self.sub, frozenset(user_ids))
        async with self.engine.connect() as conn:
            states = await presence.status_of(conn, user_ids)
        await self._send(
            {"type": "presence_state", "presence": [s.model_dump(mode="json") for s in states]}
        )

    async def _typing(self, raw_channel: object, raw_thread: object) -> None:
        """Typing in a channel, or in one of its threads (`thread_id`: the root's id)."""
        assert self.sub is not None and self.principal is not None
        try:
            channel_id = uuid.UUID(str(raw_channel))
        except ValueError:
            return
        try:
            thread_id = None if raw_thread is None else uuid.UUID(str(raw_thread))
        except ValueError:
            refusal = ValidationFailed("thread_id must be a message id", code="invalid_id")
            await self._send({"type": "error", "for": "typing", **refusal.envelope()})
            return
        now = time.monotonic()
        if channel_id not in self.sub.channels:
            return
        last_thread, last_at = self.typing_sent.get(channel_id, (None, 0.0))
        if last_thread == thread_id and now - last_at < TYPING_MIN_INTERVAL_S:
            return  # rate limited: a typing signal lasts TYPING_TTL_S anyway
        if not await self._signal_allowed("typing"):
            return
        # Only a thread other than the one last signalled in this channel is looked up (after
        # the budget, which bounds the reads): a reply being written costs one read.
        if thread_id is not None and thread_id != last_thread:
            try:
                async with self.engine.connect() as conn:
                    await messages.check_thread(conn, thread_id, channel_id)
            except NchatError as exc:
                await self._send({"type": "error", "for": "typing", **exc.envelope()})
                return
        self.typing_sent[channel_id] = (thread_id, now)
        frame = {
            "type": "typing",
            "channel_id": str(channel_id),
            "thread_id": str(thread_id) if thread_id else None,
            "user_id": str(self.principal.id),
            "expires_in": TYPING_TTL_S,
        }
        payload = {"channel_id": str(channel_id), "user_id": str(self.principal.id), "frame": frame}
        await self.bus.publish(EPHEMERAL, orjson.dumps(payload).decode())

    async def _presence(self, status: str | None, *, leaving: bool = False) -> None:
        assert self.principal is not None
        await presence.record(
            self.engine,
            self.bus,
            self.connection_id,
            self.principal.id,
            status,
            leaving=leaving,
            grace_s=self.keeper.grace_s,
        )
        if status is not None and not leaving:
            self.status = status
            self.keeper.add(self.connection_id, self.principal.id, status)

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_text(orjson.dumps(frame).decode())


async def _member_channels(conn: Any, user_id: uuid.UUID) -> set[uuid.UUID]:
    cm = channel_members.c
    result = await conn.execute(sa.select(cm.channel_id).where(cm.user_id == user_id))
    return {row[0] for row in result.all()}
