"""One hub per process: it tails the event log and hands each event to the local sockets
that may see it.

The hub reads the whole log (no per-user filter) from its own position, woken by the bus
after commits and by a slow poll as a safety net, and keeps, per socket, the channels its
user belongs to. A socket that resumes from a cursor is registered first (buffering what
arrives live), then replays the log up to the hub's position, then drains the buffer:
no gap, no duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
import structlog
from prometheus_client import Histogram
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nchat.appstate import Key
from nchat.realtime import log
from nchat.realtime.bus import Bus
from nchat.realtime.cursor import Position
from nchat.realtime.topics import EPHEMERAL, EVENTS
from nchat.realtime.wire import Direct, Outgoing
from nchat.tables.channels import channel_members

logger = structlog.get_logger("nchat.hub")

BATCH = 500
POLL_S = 1.0
# While committed events wait behind a running transaction, look again this soon, backing
# off (to BLOCKED_MAX_S) while that transaction lasts.
BLOCKED_RETRY_S = 0.005
BLOCKED_MAX_S = 0.5
QUEUE_SIZE = 2000
# At most one log read per this interval: under load every commit's wake-up was a read of
# its own; paced, the wake-ups of a burst share one, and a quiet hub still reads at once.
READ_INTERVAL_S = 0.005
# With no local sockets a read only moves the hub's position (no rows are fetched): once per
# this interval is enough, so a process without users online stops reading the log after
# every commit. A socket registering cuts the pause short; until then it holds the position
# at most this far behind, which a new socket's cursor then starts from (no gap either way).
IDLE_READ_INTERVAL_S = 0.1


@dataclass(eq=False)
class Subscriber:
    user_id: uuid.UUID
    channels: set[uuid.UUID]
    # Events at or before this position are not delivered (the socket already has them).
    after: Position
    # Users whose presence changes this socket is sent (besides its own user's).
    watching: frozenset[uuid.UUID] = frozenset()
    queue: asyncio.Queue[bytes] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    # The session the stream was opened with; `ended` is set once it no longer grants
    # access (signed out, revoked, the user deactivated): the stream then closes.
    session_id: uuid.UUID | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    # Set once the socket's send loop runs (after any replay): frames may then skip the
    # queue while it is empty and the loop holds none (wire.py).
    direct: Direct | None = None
    sending: bool = False

    def offer(self, position: Position, frame: Outgoing) -> None:
        if position > self.after:
            self.push(frame)

    def push(self, frame: Outgoing) -> None:
        if self.overflowed.is_set():
            return
        direct = self.direct
        if direct is not None and not self.sending and self.queue.empty() and direct.write(frame):
            return
        try:
            self.queue.put_nowait(frame.payload)
        except asyncio.QueueFull:
            self.overflowed.set()


def event_frame(row: Mapping[Any, Any], position: Position) -> bytes:
    return orjson.dumps(
        {
            "type": "event",
            "event": {
                "id": position.encode(),
                "type": row["type"],
                "channel_id": str(row["channel_id"]) if row["channel_id"] else None,
                "data": row["data"],
                "created_at": row["created_at"],
            },
        }
    )


def event_position(row: Mapping[Any, Any]) -> Position:
    return Position(row["xid"], row["id"], int(row["created_at"].timestamp()))


class Hub:
    def __init__(self, engine: AsyncEngine, bus: Bus, *, lag: Histogram | None = None) -> None:
        self.engine = engine
        self.bus = bus
        self.lag = lag
        self.position = Position(0, 0, 0)
        self._wake = asyncio.Event()
        self._registered = asyncio.Event()
        self._begun = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: AsyncConnection | None = None
        self._subs: set[Subscriber] = set()
        self._by_user: dict[uuid.UUID, set[Subscriber]] = defaultdict(set)
        self._by_channel: dict[uuid.UUID, set[Subscriber]] = defaultdict(set)
        self._watchers: dict[uuid.UUID, set[Subscriber]] = defaultdict(set)
        bus.listen(self._on_bus)

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        for sub in list(self._subs):
            sub.closing.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop_connection()

    def wake(self) -> None:
        self._wake.set()

    async def begun(self) -> None:
        """Wait until the hub knows the log's horizon. A socket registered before that would
        be told position zero: it would replay nothing and miss what committed between its
        cursor and the horizon (a node just restarted while its clients reconnect)."""
        await self._begun.wait()

    # -- subscribers -------------------------------------------------------
    def register(
        self,
        user_id: uuid.UUID,
        channels: set[uuid.UUID],
        after: Position | None,
        *,
        session_id: uuid.UUID | None = None,
    ) -> tuple[Subscriber, Position]:
        """Returns the subscriber and the hub's position: live delivery starts after it.
        Callers await `begun()` first."""
        start = self.position
        sub = Subscriber(
            user_id, set(channels), max(after, start) if after else start, session_id=session_id
        )
        self._subs.add(sub)
        self._by_user[user_id].add(sub)
        for channel_id in channels:
            self._by_channel[channel_id].add(sub)
        self._registered.set()
        return sub, start

    def unregister(self, sub: Subscriber) -> None:
        self._subs.discard(sub)
        self._by_user[sub.user_id].discard(sub)
        if not self._by_user[sub.user_id]:
            del self._by_user[sub.user_id]
        for channel_id in sub.channels:
            self._index_remove(channel_id, sub)
        self.watch(sub, frozenset())

    def subscribers_of(self, user_id: uuid.UUID) -> list[Subscriber]:
        return list(self._by_user.get(user_id, ()))

    def subscribers(self) -> list[Subscriber]:
        return list(self._subs)

    def watch(self, sub: Subscriber, user_ids: frozenset[uuid.UUID]) -> None:
        """Replace the users whose presence changes reach this socket."""
        for user_id in sub.watching - user_ids:
            watchers = self._watchers.get(user_id)
            if watchers is not None:
                watchers.discard(sub)
                if not watchers:
                    del self._watchers[user_id]
        for user_id in user_ids - sub.watching:
            self._watchers[user_id].add(sub)
        sub.watching = user_ids

    def _index_remove(self, channel_id: uuid.UUID, sub: Subscriber) -> None:
        subs = self._by_channel.get(channel_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._by_channel[channel_id]

    def _join(self, user_id: uuid.UUID, channel_id: uuid.UUID) -> None:
        for sub in self._by_user.get(user_id, ()):
            sub.channels.add(channel_id)
            self._by_channel[channel_id].add(sub)

    def _leave(self, user_id: uuid.UUID, channel_id: uuid.UUID) -> None:
        for sub in self._by_user.get(user_id, ()):
            sub.channels.discard(channel_id)
            self._index_remove(channel_id, sub)

    # -- the tail ----------------------------------------------------------
    def _on_bus(self, topic: str, payload: str) -> None:
        if topic == EVENTS:
            self._wake.set()
        elif topic == EPHEMERAL:
            self._ephemeral(payload)

    async def _begin(self) -> None:
        """Start from the log's current horizon, waiting for the database if it is away (a
        node starts, and says it is not ready, while its database is down)."""
        while True:
            try:
                async with self.engine.connect() as conn:
                    self.position = await log.horizon(conn)
                    self._begun.set()
                    return
            except (SQLAlchemyError, OSError) as exc:
                logger.warning("event log unreachable; retrying", error=str(exc))
                await asyncio.sleep(POLL_S)

    async def _run(self) -> None:
        await self._begin()
        retry = BLOCKED_RETRY_S
        loop = asyncio.get_running_loop()
        last_read = float("-inf")
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_S):
                    await self._wake.wait()
            pace = READ_INTERVAL_S if self._subs else IDLE_READ_INTERVAL_S
            wait = last_read + pace - loop.time()
            if wait > 0:
                await self._pause(wait)
            self._wake.clear()
            last_read = loop.time()
            try:
                blocked = await self._drain()
            except (SQLAlchemyError, OSError) as exc:
                logger.warning("event log read failed; retrying", error=str(exc))
                await asyncio.sleep(POLL_S)
                continue
            if blocked:
                await asyncio.sleep(retry)
                retry = min(retry * 2, BLOCKED_MAX_S)
                self._wake.set()
            else:
                retry = BLOCKED_RETRY_S

    async def _pause(self, seconds: float) -> None:
        """Sleep, cut short by a socket registering."""
        self._registered.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._registered.wait()

    async def _connection(self) -> AsyncConnection:
        """The hub's own connection, kept between reads: a read is then one round trip.
        Autocommit, so it never holds a snapshot (or the horizon) between reads."""
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            conn = await self.engine.connect()
            self._conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await conn.close()

    async def _drain(self) -> bool:
        """Deliver everything final; True when committed events still wait behind a
        transaction that has not finished."""
        try:
            conn = await self._connection()
            while True:
                # With nobody to deliver to, only the horizon is needed (no rows read).
                idle = not self._subs
                got = await log.tail(conn, self.position, limit=0 if idle else BATCH)
                if idle and self._subs:
                    continue  # a socket registered meanwhile: read its events after all
                for row in got.rows:
                    await self._dispatch(conn, row)
                self.position = got.end
                if not got.more:
                    return got.waiting
        except BaseException:
            await self._drop_connection()
            raise

    async def _dispatch(self, conn: Any, row: Mapping[Any, Any]) -> None:
        kind, channel_id, target = row["type"], row["channel_id"], row["target_user_id"]
        data = row["data"]
        if kind == "member.joined":
            self._join(uuid.UUID(data["user_id"]), channel_id)
        elif kind == "member.left" and target is not None:
            self._leave(target, channel_id)
        elif kind == "channel.created" and channel_id is not None:
            await self._learn_members(conn, channel_id, row["created_at"])
        position = event_position(row)
        frame = Outgoing(event_frame(row, position))
        if target is not None:
            receivers: set[Subscriber] = self._by_user.get(target, set())
        elif channel_id is None:
            receivers = self._subs
        else:
            receivers = self._by_channel.get(channel_id, set())
        if receivers and self.lag is not None:
            # Once per event, not per socket. Replays do not pass here: a resuming socket's
            # old events say nothing about how fast the live tail is.
            self.lag.observe(max(0.0, time.time() - row["created_at"].timestamp()))
        for sub in list(receivers):
            sub.offer(position, frame)

    async def _learn_members(self, conn: Any, channel_id: uuid.UUID, created: Any) -> None:
        """A new channel's members, as far as they have sockets here: those its creating
        transaction added (joined at its time), not those who joined since. A hub reading
        behind would otherwise subscribe a later joiner at the creation, and hand them the
        messages sent before they joined; their own member.joined comes later in the log."""
        local = list(self._by_user)
        if not local:
            return
        cm = channel_members.c
        result = await conn.execute(
            sa.select(cm.user_id).where(
                cm.channel_id == channel_id, cm.user_id.in_(local), cm.joined_at <= created
            )
        )
        for (user_id,) in result.all():
            self._join(user_id, channel_id)

    # -- ephemeral signals -------------------------------------------------
    def _ephemeral(self, payload: str) -> None:
        try:
            signal = orjson.loads(payload)
            frame = Outgoing(orjson.dumps(signal["frame"]))
            receivers = self._signal_receivers(signal)
        except (orjson.JSONDecodeError, KeyError, ValueError, TypeError, AttributeError):
            return
        for sub in receivers:
            if str(sub.user_id) != signal.get("user_id"):
                sub.push(frame)

    def _signal_receivers(self, signal: dict[str, Any]) -> list[Subscriber]:
        """A presence change goes to the sockets watching that user and to the user's own;
        typing to the channel's sockets (a thread's too: the frame names the thread)."""
        frame = signal["frame"]
        if frame.get("type") == "presence":
            user_id = uuid.UUID(frame["user_id"])
            return [
                *self._watchers.get(user_id, ()),
                *(s for s in self._by_user.get(user_id, ()) if user_id not in s.watching),
            ]
        return list(self._by_channel.get(uuid.UUID(signal["channel_id"]), ()))


HUB: Key[Hub] = Key("hub")
