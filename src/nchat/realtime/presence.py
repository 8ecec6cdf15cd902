"""Presence per user across devices: one row per socket, the freshest rows decide.

A user is `dnd` if any fresh socket says so, else `online` if any is online, else `away` if
any is away, else `offline` (no socket seen within PRESENCE_TTL_S). A closed socket's row
stays fresh for a grace period, so a quick reconnect changes nothing anyone sees; each
process sweeps rows gone stale (closed sockets past their grace, a crashed node's) and
announces the users they leave offline."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
import sqlalchemy as sa
import structlog
from pydantic import BaseModel, Field
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nchat.appstate import Key
from nchat.errors import ValidationFailed
from nchat.realtime.bus import Bus
from nchat.realtime.topics import EPHEMERAL
from nchat.storable import CleanModel
from nchat.tables.realtime import presence

logger = structlog.get_logger("nchat.presence")

PRESENCE_TTL_S = 60
GRACE_S = 5.0  # a closed socket still counts this long
SWEEP_S = 2.0  # how often a process looks for rows gone stale
STOP_TIMEOUT_S = 5.0
STATUSES = ("online", "away", "dnd")
MAX_USERS = 200  # per GET /api/presence, and per socket's presence subscription
p = presence.c


class PresenceOut(BaseModel):
    user_id: uuid.UUID
    status: str
    last_seen: datetime | None


class PresenceList(BaseModel):
    presence: list[PresenceOut]


class PresenceQuery(CleanModel):
    user_ids: str = Field(min_length=1, max_length=MAX_USERS * 37)  # 36 + a comma each


def user_ids_from(values: list[object]) -> list[uuid.UUID]:
    """Distinct user ids in the order given, at most MAX_USERS."""
    try:
        ids = list(dict.fromkeys(uuid.UUID(str(value)) for value in values))
    except ValueError as exc:
        raise ValidationFailed("user_ids must be user ids", code="invalid_id") from exc
    if len(ids) > MAX_USERS:
        raise ValidationFailed(f"At most {MAX_USERS} users at once", code="too_many_ids")
    return ids


def fresh_since() -> datetime:
    """Rows seen after this are live sockets."""
    return datetime.now(UTC) - timedelta(seconds=PRESENCE_TTL_S)


async def lock_user(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Serialise one user's presence changes (all their devices, every node), so that each
    change of their status is seen, and announced, exactly once."""
    key = sa.func.hashtextextended(str(user_id), 0)
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


async def upsert(
    conn: AsyncConnection, connection_id: uuid.UUID, user_id: uuid.UUID, status: str | None
) -> None:
    """Mark the socket seen now (and set its status when given)."""
    values = {
        "connection_id": connection_id,
        "user_id": user_id,
        "status": status or "online",
        "last_seen": sa.func.now(),
    }
    update: dict[str, object] = {"last_seen": sa.func.now()}
    if status is not None:
        update["status"] = status
    await conn.execute(
        pg_insert(presence)
        .values(**values)
        .on_conflict_do_update(index_elements=["connection_id"], set_=update)
    )


async def leave(conn: AsyncConnection, connection_id: uuid.UUID, grace_s: float) -> None:
    """The socket closed: its row counts for `grace_s` more, then goes stale."""
    if grace_s <= 0:
        await conn.execute(sa.delete(presence).where(p.connection_id == connection_id))
        return
    until = datetime.now(UTC) - timedelta(seconds=PRESENCE_TTL_S - grace_s)
    await conn.execute(
        sa.update(presence)
        .where(p.connection_id == connection_id)
        .values(last_seen=sa.func.least(p.last_seen, until))
    )


async def open_sockets(conn: AsyncConnection, user_id: uuid.UUID, grace_s: float) -> int:
    """The user's sockets open now, on every node: rows a heartbeat keeps fresh, not those
    of closed sockets left counting for their grace period (`leave`)."""
    since = datetime.now(UTC) - timedelta(seconds=PRESENCE_TTL_S - grace_s)
    count = await conn.scalar(
        sa.select(sa.func.count()).where(p.user_id == user_id, p.last_seen > since)
    )
    return int(count or 0)


async def status_of(conn: AsyncConnection, user_ids: list[uuid.UUID]) -> list[PresenceOut]:
    rows = (
        await conn.execute(
            sa.select(p.user_id, sa.func.array_agg(p.status), sa.func.max(p.last_seen))
            .where(p.user_id.in_(user_ids), p.last_seen > fresh_since())
            .group_by(p.user_id)
        )
    ).all()
    found = {user_id: (set(statuses), seen) for user_id, statuses, seen in rows}
    out = []
    for user_id in user_ids:
        statuses, seen = found.get(user_id, (set(), None))
        status = next((s for s in ("dnd", "online", "away") if s in statuses), "offline")
        out.append(PresenceOut(user_id=user_id, status=status, last_seen=seen))
    return out


async def sweep(engine: AsyncEngine, bus: Bus) -> None:
    """Delete rows gone stale and announce offline the users left with no fresh one. Each
    user is locked as `record` locks them, so a reconnect racing the sweep is announced
    after it, not before. Every node sweeps: a user is announced by the sweep that deleted
    their rows, not again by one that found the same rows stale and waited for the lock."""
    async with engine.begin() as conn:
        fresh = fresh_since()
        stale = sa.select(p.user_id).where(p.last_seen <= fresh).distinct()
        user_ids = sorted((await conn.execute(stale)).scalars().all())
        if not user_ids:
            return
        for user_id in user_ids:  # in order: two sweeping processes never deadlock
            await lock_user(conn, user_id)
        deleted = await conn.execute(
            sa.delete(presence)
            .where(p.user_id.in_(user_ids), p.last_seen <= fresh)
            .returning(p.user_id)
        )
        swept = sorted(set(deleted.scalars().all()))
        if not swept:
            return
        gone = [s.user_id for s in await status_of(conn, swept) if s.status == "offline"]
    for user_id in gone:
        await _announce(bus, user_id, "offline")


async def _announce(bus: Bus, user_id: uuid.UUID, status: str) -> None:
    frame = {"type": "presence", "user_id": str(user_id), "status": status}
    # Hubs send it to the sockets watching the user. `broadcast` is read by nodes of
    # versions before presence subscriptions, during a rolling upgrade.
    await bus.publish(EPHEMERAL, orjson.dumps({"broadcast": True, "frame": frame}).decode())


async def record(
    engine: AsyncEngine,
    bus: Bus,
    connection_id: uuid.UUID,
    user_id: uuid.UUID,
    status: str | None,
    *,
    leaving: bool = False,
    grace_s: float = GRACE_S,
) -> None:
    """Record one socket's presence (or, leaving, its close); announce the user's status
    when it changes."""
    async with engine.begin() as conn:
        await lock_user(conn, user_id)
        (before,) = await status_of(conn, [user_id])
        if leaving:
            await leave(conn, connection_id, grace_s)
        else:
            await upsert(conn, connection_id, user_id, status)
        (after,) = await status_of(conn, [user_id])
    if after.status != before.status:
        await _announce(bus, user_id, after.status)


_TOUCH = (
    sa.update(presence)
    .where(
        p.connection_id == sa.func.any(sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))),
        p.last_seen > sa.func.statement_timestamp() - sa.bindparam("within", type_=sa.Interval),
    )
    .values(last_seen=sa.func.now())
    .returning(p.connection_id)
)


async def refresh(
    conn: AsyncConnection, connection_ids: list[uuid.UUID], grace_s: float
) -> set[uuid.UUID]:
    """Mark sockets seen now; returns those whose rows were kept fresh. A row that `leave`
    marked (seen TTL - grace ago) is left to expire: its socket may have closed after this
    heartbeat took its list of live sockets, and must not stay online for another TTL. Live
    rows were seen one heartbeat ago (at most half the TTL); a row just past the window
    takes the full path instead, which only costs a transaction."""
    within = timedelta(seconds=PRESENCE_TTL_S - grace_s - 1.0)
    result = await conn.execute(_TOUCH, {"ids": connection_ids, "within": within})
    return {row[0] for row in result.all()}


class Keeper:
    """Keeps this process's sockets seen: one UPDATE per heartbeat for all of them, rather
    than a transaction per socket (at 10,000 idle sockets those took most of a core, and a
    socket's heartbeat waiting on the pool could close it as idle). A socket whose row had
    gone stale, or vanished, takes the full path: it may bring its user back online."""

    def __init__(self, engine: AsyncEngine, bus: Bus, interval_s: Callable[[], float]) -> None:
        self.engine = engine
        self.bus = bus
        self.interval_s = interval_s
        self.grace_s = GRACE_S
        self.sweep_s = SWEEP_S
        # connection id -> (user id, the status the socket last set)
        self._live: dict[uuid.UUID, tuple[uuid.UUID, str]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def add(self, connection_id: uuid.UUID, user_id: uuid.UUID, status: str) -> None:
        """Keep the socket seen; called again when its status changes."""
        self._live[connection_id] = (user_id, status)

    def discard(self, connection_id: uuid.UUID) -> None:
        self._live.pop(connection_id, None)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Let the round in progress finish (cancelled in the middle of a transaction, its
        connection could hold up the pool's shutdown), then end; cancel only if it hangs."""
        if self._task is None:
            return
        self._stopping.set()
        done, _ = await asyncio.wait({self._task}, timeout=STOP_TIMEOUT_S)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        touched = swept = time.monotonic()
        while not self._stopping.is_set():
            # Short naps, so a changed interval takes effect without waiting out the old one.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(self.interval_s(), self.sweep_s, 1.0)):
                    await self._stopping.wait()
            if self._stopping.is_set():
                return
            now = time.monotonic()
            try:
                if now - touched >= self.interval_s():
                    touched = now
                    await self.touch()
                if now - swept >= self.sweep_s:
                    swept = now
                    await sweep(self.engine, self.bus)
            except (SQLAlchemyError, OSError) as exc:
                # A database briefly away costs stale presence, not the sockets.
                logger.warning("presence heartbeat failed", error=str(exc))

    async def touch(self) -> None:
        live = dict(self._live)
        if not live:
            return
        async with self.engine.begin() as conn:
            kept = await refresh(conn, list(live), self.grace_s)
        for connection_id, (user_id, status) in live.items():
            if connection_id not in kept and connection_id in self._live:
                await record(self.engine, self.bus, connection_id, user_id, status)


KEEPER: Key[Keeper] = Key("presence_keeper")
