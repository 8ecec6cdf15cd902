"""The event log: writes in the caller's transaction, reads below the visibility horizon.

Event ids come from a sequence, so concurrent transactions commit them out of order: id 12
may be visible while id 11's transaction is still running. Readers therefore order by
(writing transaction id, event id) and only take events of transactions older than every
transaction still in progress (`pg_snapshot_xmin`). Those are final: nothing can still be
added below that horizon. A position at or past the horizon never has to be revisited, so a
reader resuming from it misses nothing and sees nothing twice."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.db.driver import DriverStatement
from nchat.db.transaction import effects
from nchat.errors import NchatError
from nchat.realtime.cursor import Position
from nchat.realtime.events import EVENT_DATA, ChangesOut, EventOut
from nchat.tables.channels import channel_members
from nchat.tables.realtime import events

HORIZON = sa.text("(pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")
e = events.c


class ResyncRequired(NchatError):
    status_code = 410
    code = "resync_required"
    message = "The cursor is older than the event log keeps; resynchronise from scratch"


async def emit(
    conn: AsyncConnection,
    type_: str,
    data: BaseModel,
    *,
    channel_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    target_user_id: uuid.UUID | None = None,
    subject_user_id: uuid.UUID | None = None,
) -> None:
    """subject_user_id: on the members' copy of member.joined and member.left, the member."""
    done = effects(conn)  # first: a connection nobody would tell of the event writes none
    await conn.execute(
        sa.insert(events).values(
            type=type_,
            channel_id=channel_id,
            user_id=actor_id,
            target_user_id=target_user_id,
            subject_user_id=subject_user_id,
            data=event_data(type_, data),
        )
    )
    done.events = True


def event_data(type_: str, data: BaseModel) -> dict[str, Any]:
    """An event's `data` column, checked against the type's model."""
    model = EVENT_DATA[type_]
    assert isinstance(data, model), f"{type_} carries {model.__name__}"
    return data.model_dump(mode="json")


class EventWrite:
    """A statement that writes events together with other rows in one round trip (the send:
    message, mentions and event). It is built around the events table it is handed, so no
    other module touches that table, and running it marks the transaction as one that
    wrote events, like `emit`."""

    def __init__(
        self, build: Callable[[sa.Table], sa.Insert], *, json_params: frozenset[str]
    ) -> None:
        self._statement = DriverStatement(build(events), json_params=json_params)

    async def fetchrow(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Any:
        """The first row the statement returns, None if it wrote no event."""
        done = effects(conn)
        row = await self._statement.fetchrow(conn, params)
        if row is not None:
            done.events = True
        return row


async def horizon(conn: AsyncConnection) -> Position:
    """The position a reader starting now begins from: everything final so far is behind it."""
    xid = int(await conn.scalar(sa.select(HORIZON)) or 0)
    return Position(xid, 0, int(time.time()))


def check_retention(position: Position, retention_s: int) -> None:
    if position.at < time.time() - retention_s:
        raise ResyncRequired()


def _visible_to(user_id: uuid.UUID) -> Any:
    """What a live socket of the user would have received: their own targeted events,
    events without a channel, and those of channels they were a member of at the time.

    Membership at an event's time: the user's first membership change in that channel after
    the event tells it (a join: not yet a member; a leave: still a member); with none since,
    membership now does. Every change after a resumable cursor is still in the log."""
    cm = channel_members.c
    f = events.alias("f")
    next_change = (
        sa.select(f.c.type == "member.left")
        .where(
            f.c.channel_id == e.channel_id,
            f.c.subject_user_id == user_id,
            sa.tuple_(f.c.xid, f.c.id) > sa.tuple_(e.xid, e.id),
        )
        .order_by(f.c.xid, f.c.id)
        .limit(1)
        .scalar_subquery()
    )
    member_now = e.channel_id.in_(sa.select(cm.channel_id).where(cm.user_id == user_id))
    return sa.or_(
        e.target_user_id == user_id,
        sa.and_(
            e.target_user_id.is_(None),
            sa.or_(e.channel_id.is_(None), sa.func.coalesce(next_change, member_now)),
        ),
    )


async def read(
    conn: AsyncConnection,
    after: Position,
    *,
    limit: int,
    user_id: uuid.UUID | None,
    until: Position | None = None,
) -> tuple[list[RowMapping], Position, bool]:
    """Events after `after` below the horizon (and at or before `until`), oldest first,
    those `user_id` may see (all when None). Returns (rows, the position after them,
    whether more are waiting)."""
    # The horizon is fixed first: everything below it is final, so the read that follows
    # (with a later snapshot) sees all of it, and jumping to it skips nothing.
    edge = await horizon(conn)
    if until is not None:
        edge = min(edge, until)
    # Positions compare as (xid, id): a horizon (H, 0) covers every xid below H.
    query = sa.select(events).where(
        sa.tuple_(e.xid, e.id) > sa.tuple_(sa.literal(after.xid), sa.literal(after.id)),
        sa.tuple_(e.xid, e.id) <= sa.tuple_(sa.literal(edge.xid), sa.literal(edge.id)),
    )
    if user_id is not None:
        query = query.where(_visible_to(user_id))
    rows = list((await conn.execute(query.order_by(e.xid, e.id).limit(limit))).mappings())
    if len(rows) == limit:
        return rows, _position(rows[-1]), True
    return rows, max(edge, after), False


# The hub's read, in one statement and so one snapshot: that snapshot's xmin is the
# horizon, every transaction below it has finished, and the same snapshot sees all of their
# events. `waiting` says whether committed events already sit at or past the horizon.
_TAIL_COLUMNS = (
    "id",
    "xid",
    "type",
    "channel_id",
    "user_id",
    "target_user_id",
    "data",
    "created_at",
)
_TAIL = sa.text(
    """
    SELECT h.horizon, h.waiting, e.id, e.xid, e.type, e.channel_id, e.user_id,
           e.target_user_id, e.data, e.created_at
    FROM (SELECT s.x AS horizon,
                 EXISTS (SELECT 1 FROM nchat_events WHERE xid >= s.x) AS waiting
          FROM (SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint AS x) AS s) AS h
    LEFT JOIN LATERAL (
        SELECT * FROM nchat_events
        WHERE (xid, id) > (:after_xid, :after_id) AND xid < h.horizon
        ORDER BY xid, id
        LIMIT :limit
    ) AS e ON true
    ORDER BY e.xid, e.id
    """
).columns(
    sa.column("horizon", sa.BigInteger),
    sa.column("waiting", sa.Boolean),
    *(e[name] for name in _TAIL_COLUMNS),
)


@dataclass(frozen=True)
class Tail:
    rows: list[Mapping[Any, Any]]
    end: Position
    more: bool
    waiting: bool


# Read after every commit by every process's hub: on the driver connection (decision 0019).
_TAIL_ON_DRIVER = DriverStatement(_TAIL)


async def tail(conn: AsyncConnection, after: Position, *, limit: int) -> Tail:
    """Every event after `after` below the horizon, for all readers (one round trip)."""
    params = {"after_xid": after.xid, "after_id": after.id, "limit": limit}
    found = await _TAIL_ON_DRIVER.fetch_mappings(conn, params)
    head = found[0]
    rows = [r for r in found if r["id"] is not None]
    if limit and len(rows) == limit:
        return Tail(rows, _position(rows[-1]), True, True)
    edge = Position(head["horizon"], 0, int(time.time()))
    return Tail(rows, max(edge, after), False, bool(head["waiting"]))


def _position(row: Mapping[Any, Any]) -> Position:
    return Position(row["xid"], row["id"], _epoch(row["created_at"]))


def to_out(row: RowMapping, position: Position) -> EventOut:
    return EventOut(
        id=position.encode(),
        type=row["type"],
        channel_id=row["channel_id"],
        data=row["data"],
        created_at=row["created_at"],
    )


def page_out(rows: list[RowMapping], end: Position, has_more: bool) -> ChangesOut:
    events_out = [to_out(row, _position(row)) for row in rows]
    return ChangesOut(events=events_out, cursor=end.encode(), has_more=has_more)


_REDACT_PROFILE = sa.text(
    "UPDATE nchat_events SET data = CAST(:data AS jsonb) "
    "WHERE type = 'user.updated' AND data->>'id' = :id"
)
_REDACT_AUTHOR = sa.text(
    "UPDATE nchat_events SET data = jsonb_set(data, '{user}', CAST(:author AS jsonb)) "
    "WHERE type IN ('message.created', 'message.updated') AND data->'user'->>'id' = :id"
)


async def redact_user(
    conn: AsyncConnection, user_id: uuid.UUID, *, profile: BaseModel, author: dict[str, str]
) -> int:
    """An erased person's names out of the log: their profile events carry `profile` and
    the messages they wrote `author`, as if sent after the erasure, so a client resuming
    from an old cursor replays no one's old name. A scan of the log: erasures are rare."""
    params = {"id": str(user_id)}
    data = orjson.dumps(event_data("user.updated", profile)).decode()
    profiles = await conn.execute(_REDACT_PROFILE, {**params, "data": data})
    authored = await conn.execute(
        _REDACT_AUTHOR, {**params, "author": orjson.dumps(author).decode()}
    )
    return (profiles.rowcount or 0) + (authored.rowcount or 0)


async def prune(conn: AsyncConnection, *, retention_s: int) -> int:
    cutoff = datetime.now(UTC) - timedelta(seconds=retention_s)
    result = await conn.execute(sa.delete(events).where(e.created_at < cutoff))
    return result.rowcount or 0


def _epoch(value: datetime) -> int:
    return int(value.timestamp())
