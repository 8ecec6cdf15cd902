"""All SQL of channels and their members: statements and the functions that run them.

The REST channel list (`listing.py`) runs its statements here and fills in the rest from its
copies; the copy of recent messages keeps its own SQL beside it (`recent_roots.py`)."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.channels import recent_roots
from nchat.channels.recent_roots import Base, Changes
from nchat.db import like
from nchat.db.driver import DriverStatement
from nchat.tables.channels import DM_TYPES, channel_members, channels
from nchat.tables.messages import mentions, messages
from nchat.tables.users import users

c = channels.c
m = channel_members.c


async def get(conn: AsyncConnection, channel_id: uuid.UUID) -> RowMapping | None:
    return (await conn.execute(sa.select(channels).where(c.id == channel_id))).mappings().first()


async def get_membership(
    conn: AsyncConnection, channel_id: uuid.UUID, user_id: uuid.UUID
) -> RowMapping | None:
    query = sa.select(channel_members).where(m.channel_id == channel_id, m.user_id == user_id)
    return (await conn.execute(query)).mappings().first()


# Every channel-scoped request runs this: built once (see _LISTED_MINE below).
_WITH_MEMBERSHIP = (
    sa.select(
        channels,
        m.role.label("m_role"),
        m.last_read_id.label("m_last_read_id"),
        m.user_id.label("m_user_id"),
        m.joined_at.label("m_joined_at"),
    )
    .select_from(
        channels.outerjoin(
            channel_members,
            sa.and_(
                m.channel_id == c.id,
                m.user_id == sa.bindparam("user_id", type_=UUID(as_uuid=True)),
            ),
        )
    )
    .where(c.id == sa.bindparam("channel_id", type_=UUID(as_uuid=True)))
)


async def get_with_membership(
    conn: AsyncConnection, channel_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[RowMapping, dict[str, Any] | None] | None:
    """The channel and the caller's membership row, in one round trip."""
    params = {"channel_id": channel_id, "user_id": user_id}
    row = (await conn.execute(_WITH_MEMBERSHIP, params)).mappings().first()
    if row is None:
        return None
    membership: dict[str, Any] | None = None
    if row["m_user_id"] is not None:
        membership = {
            "channel_id": channel_id,
            "user_id": user_id,
            "role": row["m_role"],
            "last_read_id": row["m_last_read_id"],
            "joined_at": row["m_joined_at"],
        }
    return row, membership


async def insert_channel(conn: AsyncConnection, values: dict[str, Any]) -> RowMapping:
    row: RowMapping = (
        (await conn.execute(sa.insert(channels).values(**values).returning(channels)))
        .mappings()
        .one()
    )
    return row


async def insert_dm(conn: AsyncConnection, values: dict[str, Any]) -> RowMapping | None:
    """Insert a DM unless one with the same member set exists (then None)."""
    query = (
        pg_insert(channels)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dm_key"], index_where=c.dm_key.isnot(None))
        .returning(channels)
    )
    row: RowMapping | None = (await conn.execute(query)).mappings().first()
    return row


async def get_by_dm_key(conn: AsyncConnection, dm_key: str) -> RowMapping | None:
    return (await conn.execute(sa.select(channels).where(c.dm_key == dm_key))).mappings().first()


async def name_taken(conn: AsyncConnection, name: str, *, except_id: uuid.UUID | None) -> bool:
    query = sa.select(c.id).where(c.name == name)
    if except_id is not None:
        query = query.where(c.id != except_id)
    return (await conn.execute(query)).first() is not None


async def update_channel(
    conn: AsyncConnection, channel_id: uuid.UUID, values: dict[str, Any]
) -> RowMapping:
    row: RowMapping = (
        (
            await conn.execute(
                sa.update(channels)
                .where(c.id == channel_id)
                .values(**values, updated_at=sa.func.now())
                .returning(channels)
            )
        )
        .mappings()
        .one()
    )
    return row


async def add_members(
    conn: AsyncConnection, channel_id: uuid.UUID, user_ids: list[uuid.UUID], *, role: str = "member"
) -> list[uuid.UUID]:
    """Add members (existing ones untouched); returns the ids actually added."""
    if not user_ids:
        return []
    query = (
        pg_insert(channel_members)
        .values([{"channel_id": channel_id, "user_id": u, "role": role} for u in user_ids])
        .on_conflict_do_nothing()
        .returning(m.user_id)
    )
    added = [r[0] for r in (await conn.execute(query)).all()]
    await _count_members(conn, channel_id, len(added))
    return added


async def _count_members(conn: AsyncConnection, channel_id: uuid.UUID, delta: int) -> None:
    if delta:
        await conn.execute(
            sa.update(channels)
            .where(c.id == channel_id)
            .values(member_count=c.member_count + delta)
        )


async def remove_member(conn: AsyncConnection, channel_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    result = await conn.execute(
        sa.delete(channel_members)
        .where(m.channel_id == channel_id, m.user_id == user_id)
        .returning(m.user_id)
    )
    removed = result.first() is not None
    await _count_members(conn, channel_id, -1 if removed else 0)
    return removed


async def set_member_role(
    conn: AsyncConnection, channel_id: uuid.UUID, user_id: uuid.UUID, role: str
) -> bool:
    result = await conn.execute(
        sa.update(channel_members)
        .where(m.channel_id == channel_id, m.user_id == user_id)
        .values(role=role)
        .returning(m.user_id)
    )
    return result.first() is not None


async def live_user_ids(conn: AsyncConnection, user_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    query = sa.select(users.c.id).where(
        users.c.id.in_(user_ids), users.c.deleted_at.is_(None), users.c.is_active
    )
    return {r[0] for r in (await conn.execute(query)).all()}


async def list_members(
    conn: AsyncConnection, channel_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
) -> list[RowMapping]:
    query = (
        sa.select(m.user_id, m.role, m.joined_at, users.c.username, users.c.display_name)
        .join(users, users.c.id == m.user_id)
        .where(m.channel_id == channel_id)
        .order_by(m.user_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(m.user_id > after)
    return list((await conn.execute(query)).mappings().all())


async def dm_members(
    conn: AsyncConnection, channel_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[RowMapping]]:
    if not channel_ids:
        return {}
    query = (
        sa.select(m.channel_id, users.c.id, users.c.username, users.c.display_name)
        .join(users, users.c.id == m.user_id)
        .where(m.channel_id.in_(channel_ids))
        .order_by(m.channel_id, users.c.username)
    )
    out: dict[uuid.UUID, list[RowMapping]] = {}
    for row in (await conn.execute(query)).mappings():
        out.setdefault(row["channel_id"], []).append(row)
    return out


NO_MARKER = uuid.UUID(int=0)


def _counts(me: Any) -> tuple[Any, Any, Any]:
    """For one channel row: (a lateral of the unread count and the newest message's time,
    the mention count, the newest root message's time).

    Each is an index range scan from the read marker forward (a missing marker reads as the
    smallest id, keeping the condition a plain range the index can seek), so a user in 500
    channels pays for their unread messages, not for the channels' history. The scan starts
    at the marker itself: the message read last is, most often, the channel's newest one
    still, and finding it gives the newest time without a second probe; coalesce() runs the
    backward probe only when the scan found nothing (a deleted or threaded marker, no marker,
    a non-member). Mentions are counted only where the member's newest mention is past the
    marker (decision 0021): elsewhere the count is 0 without looking."""
    marker = sa.func.coalesce(m.last_read_id, NO_MARKER)
    since_read = _since_read(me, marker).lateral("since_read")
    mn = mentions.alias("mn")
    mention_count = sa.case(
        (
            m.last_mention_id > marker,
            sa.select(sa.func.count())
            .where(mn.c.user_id == me, mn.c.channel_id == c.id, mn.c.message_id > marker)
            .scalar_subquery(),
        ),
        else_=0,
    )
    return since_read, mention_count, _newest()


def _since_read(me: Any, marker: Any) -> sa.Select[int, Any]:
    """A member's unread count and the newest time from their marker on (see _counts)."""
    x = messages.alias("x")
    return sa.select(
        sa.func.count().filter(x.c.id > marker, x.c.user_id != me).label("unread"),
        sa.func.max(x.c.created_at).label("newest"),
    ).where(
        m.user_id.isnot(None),
        x.c.channel_id == c.id,
        x.c.thread_id.is_(None),
        x.c.id >= marker,
        x.c.deleted_at.is_(None),
    )


def _newest() -> Any:
    """The channel's newest root message's time, for the enclosing query's channel row (at
    any depth: nested in another subquery, it would otherwise read every channel)."""
    y = messages.alias("y")
    return (
        sa.select(y.c.created_at)
        .where(y.c.channel_id == c.id, y.c.thread_id.is_(None), y.c.deleted_at.is_(None))
        .order_by(y.c.id.desc())
        .limit(1)
        .correlate_except(y)
        .scalar_subquery()
    )


def _counted_here() -> Any:
    """For a member's row in the `count_here` channels, (unread count, newest time) as the
    list's SQL counts them, as one value; NULL elsewhere (decision 0023)."""
    me = sa.bindparam("me", type_=UUID(as_uuid=True))
    since_read = _since_read(me, sa.func.coalesce(m.last_read_id, NO_MARKER))
    unread, newest = since_read.selected_columns
    counted = since_read.with_only_columns(
        sa.func.row(unread, sa.func.coalesce(newest, _newest()))
    ).scalar_subquery()
    here = c.id == sa.any_(sa.bindparam("count_here", type_=ARRAY(UUID(as_uuid=True))))
    return sa.case((sa.and_(m.user_id.isnot(None), here), counted))


def _view_query(*, joined: bool, counted: bool = True) -> sa.Select[Any]:
    """The caller's view of channels; the caller is the bind parameter `me`.

    joined: start from the caller's memberships (an index lookup) instead of every channel.
    counted: with the unread count and the newest message's time (without them, the caller
    counts those from the copy of recent messages, decision 0023).
    """
    me = sa.bindparam("me", type_=UUID(as_uuid=True))
    since_read, mention_count, newest = _counts(me)
    is_member = m.user_id.isnot(None)
    mine = sa.and_(m.channel_id == c.id, m.user_id == me)
    source = (
        channels.join(channel_members, mine)
        if joined
        else channels.outerjoin(channel_members, mine)
    )
    counts = []
    mentioned = sa.case((is_member, mention_count))
    if counted:
        source = source.join(since_read, sa.true())  # an aggregate: always exactly one row
        # A DM's every unread message is addressed to the reader: each counts as a mention
        # (as Slack counts them, and the push badge). Uncounted, listing.py does the same.
        mentioned = sa.case(
            (sa.and_(is_member, sa.or_(*(c.type == t for t in DM_TYPES))), since_read.c.unread),
            (is_member, mention_count),
        )
        counts = [
            sa.case((is_member, since_read.c.unread)).label("unread_count"),
            sa.func.coalesce(since_read.c.newest, newest).label("last_message_at"),
        ]
    return sa.select(
        channels,
        is_member.label("is_member"),
        m.role.label("channel_role"),
        m.last_read_id.label("last_read_id"),
        mentioned.label("mention_count"),
        *counts,
    ).select_from(source)


class SharedRow(NamedTuple):
    """A channel's id, its row's version (decision 0022) and the fields every viewer of it
    sees alike (the channel row's columns), as _SHARED reads them."""

    id: str
    version: int
    type: str
    name: str | None
    topic: str
    description: str
    read_only: bool
    archived: bool
    archived_at: datetime | None
    created_by: str | None
    created_at: datetime
    member_count: int

    def shared(self) -> dict[str, Any]:
        """The fields, as SHARED_FIELDS."""
        fields = self._asdict()
        del fields["id"], fields["version"]
        return fields


# What every viewer of a channel sees alike, and what is the caller's own: a listed channel
# is "id", then the first, then the second.
SHARED_FIELDS = SharedRow._fields[2:]  # after the id and the version
OWN_FIELDS = (
    "is_member",
    "channel_role",
    "unread_count",
    "mention_count",
    "last_read_id",
    "last_message_at",
)
LISTED_FIELDS = ("id", *SHARED_FIELDS, *OWN_FIELDS)
# Ids as text: 500 rows of driver uuid objects turned back into strings cost the list more
# than PostgreSQL spends printing them.
_ID = sa.cast(c.id, sa.Text)
_SHARED_COLUMNS = (
    c.type,
    c.name,
    c.topic,
    c.description,
    c.read_only,
    c.archived_at.isnot(None),
    c.archived_at,
    sa.cast(c.created_by, sa.Text),
    c.created_at,
    c.member_count,
)
# The version of the channel's row: the transaction that wrote it (decision 0022).
_VERSION: sa.ColumnClause[Any] = sa.literal_column("nchat_channels.xmin")


def _own_columns(query: sa.Select[Any]) -> tuple[Any, ...]:
    view = query.selected_columns
    return (
        view.is_member,
        view.channel_role,
        view.unread_count,
        view.mention_count,
        sa.cast(m.last_read_id, sa.Text),
        view.last_message_at,
    )


def _as_listed(query: sa.Select[Any]) -> sa.Select[Any]:
    """The view projected to a listed channel's fields, in LISTED_FIELDS order."""
    return query.with_only_columns(_ID, *_SHARED_COLUMNS, *_own_columns(query))


def _order_key(*, mine: bool) -> sa.ColumnElement[Any]:
    """What the list orders and pages by. From the caller's memberships, the membership's
    channel id: it comes in order from the (user_id, channel_id) index, which the planner
    then merges with the channels instead of looping over every membership (a generic plan
    did, at 30-50 ms)."""
    return m.channel_id if mine else c.id


def _as_own(query: sa.Select[Any], key: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """The uncounted view projected to OwnRow's columns and then CHANGES's, these on the
    first row in `key` order only (NULLs on the others: its arrays can be long)."""
    view = query.selected_columns
    changes = recent_roots.CHANGES
    first = sa.func.row_number().over(order_by=key) == 1
    # Read once, as scalars only the first row takes: joined, their arrays would be copied
    # into every row on the way.
    return query.with_only_columns(
        _ID,
        _VERSION,
        view.is_member,
        view.channel_role,
        view.mention_count,
        sa.cast(m.last_read_id, sa.Text),
        _counted_here(),
        *(sa.case((first, sa.select(column).scalar_subquery())) for column in changes.c),
    )


_SHARED = DriverStatement(
    sa.select(_ID, _VERSION, *_SHARED_COLUMNS).where(
        c.id == sa.any_(sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True))))
    )
)


# Built once: constructing the correlated aliases costs more than running a cached statement.
_VISIBLE = sa.or_(m.user_id.isnot(None), c.type == "public")
_MINE = _view_query(joined=True)
_ALL = _view_query(joined=False).where(_VISIBLE)
_LISTED_MINE, _LISTED_ALL = _as_listed(_MINE), _as_listed(_ALL)
_BASES = {  # (own, mine)
    (False, True): _LISTED_MINE,
    (False, False): _LISTED_ALL,
    (True, True): _as_own(_view_query(joined=True, counted=False), _order_key(mine=True)),
    (True, False): _as_own(
        _view_query(joined=False, counted=False).where(_VISIBLE), _order_key(mine=False)
    ),
}
# PostgreSQL's counts for the channels the copy cannot count (a read marker older than it).
_COUNTED = DriverStatement(
    _ALL.with_only_columns(
        _ID, _ALL.selected_columns.unread_count, _ALL.selected_columns.last_message_at
    ).where(c.id == sa.any_(sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))))
)
_ONE = sa.bindparam("channel_id", type_=UUID(as_uuid=True))
# The list and the single channel run on the driver connection (decision 0019): for 500
# channels SQLAlchemy's statement cache key, result rows and greenlet hop cost a quarter of
# what asyncpg and PostgreSQL take.
_VIEW_MINE = DriverStatement(_LISTED_MINE.where(c.id == _ONE))
_VIEW_ALL = DriverStatement(_LISTED_ALL.where(c.id == _ONE))


async def channel_view(
    conn: AsyncConnection, channel_id: uuid.UUID, me: uuid.UUID, *, see_public: bool
) -> dict[str, Any] | None:
    """One channel as the caller sees it, as LISTED_FIELDS."""
    statement = _VIEW_ALL if see_public else _VIEW_MINE
    row = await statement.fetchrow(conn, {"me": me, "channel_id": channel_id})
    return dict(zip(LISTED_FIELDS, row, strict=True)) if row is not None else None


@functools.cache
def _list_statement(
    *,
    own: bool,
    mine: bool,
    by_type: bool,
    by_name: bool,
    not_member: bool,
    archived: bool | None,
    after: bool,
) -> DriverStatement:
    """The list's statement for one combination of filters, their values bind parameters;
    `own`: the caller's own fields only, with each row's version (decision 0022)."""
    query = _BASES[own, mine]
    key = _order_key(mine=mine)
    if by_type:
        query = query.where(c.type == sa.bindparam("type"))
    if by_name:
        # Names are lowercase ASCII: the query's accents are folded to match (café: cafe).
        query = query.where(c.name.like(sa.func.unaccent(sa.bindparam("name_pattern"))))
    if not_member:
        query = query.where(m.user_id.is_(None))
    if archived is True:
        query = query.where(c.archived_at.isnot(None))
    elif archived is False:
        query = query.where(c.archived_at.is_(None))
    if after:
        query = query.where(key > sa.bindparam("after", type_=UUID(as_uuid=True)))
    limit = sa.bindparam("limit", type_=sa.Integer)
    return DriverStatement(query.order_by(key).limit(limit))


@dataclass(frozen=True, slots=True)
class ListFilters:
    """A channel list's caller, filters and page: which _list_statement runs, and its values."""

    me: uuid.UUID
    see_public: bool
    type_: str | None
    q: str | None
    member: bool | None
    archived: bool | None
    after: uuid.UUID | None
    limit: int


def _statement(filters: ListFilters, *, own: bool) -> tuple[DriverStatement, dict[str, Any]]:
    statement = _list_statement(
        own=own,
        mine=filters.member is True or not filters.see_public,
        by_type=filters.type_ is not None,
        by_name=bool(filters.q),
        not_member=filters.member is False,
        archived=filters.archived,
        after=filters.after is not None,
    )
    params: dict[str, Any] = {"me": filters.me, "limit": filters.limit}
    if filters.type_ is not None:
        params["type"] = filters.type_
    if filters.q:
        params["name_pattern"] = like.contains(filters.q)
    if filters.after is not None:
        params["after"] = filters.after
    return statement, params


async def list_fields(conn: AsyncConnection, filters: ListFilters) -> list[dict[str, Any]]:
    """Listed channels as dicts of LISTED_FIELDS, every field read by PostgreSQL."""
    statement, params = _statement(filters, own=False)
    rows = await statement.fetch(conn, params)
    return [dict(zip(LISTED_FIELDS, row, strict=True)) for row in rows]


Counted = tuple[int | None, datetime | None]  # (unread count, newest message time)


class OwnRow(NamedTuple):
    """A listed channel as _as_own reads it: the caller's own fields but the two counted from
    the copy of recent messages, the row's version (decision 0022), and PostgreSQL's count
    where `count_here` asked for one. The statement's further columns are CHANGES's."""

    id: str
    version: int
    is_member: bool
    channel_role: str | None
    mention_count: int | None
    last_read_id: str | None
    counted: Counted | None


_OWN = len(OwnRow._fields)


async def list_own(
    conn: AsyncConnection, filters: ListFilters, *, count_here: list[str], base: Base
) -> tuple[list[OwnRow], Changes | None]:
    """The listed channels' own fields and versions, with PostgreSQL's counts for the
    `count_here` channels, and what CHANGES read against the copy's `base` (None when
    nothing is listed), all in the statement's one snapshot (decisions 0022, 0023)."""
    statement, params = _statement(filters, own=True)
    rows = await statement.fetch(conn, {**params, "count_here": count_here, **base.params()})
    if not rows:
        return [], None
    return [OwnRow._make(row[:_OWN]) for row in rows], Changes._make(rows[0][_OWN:])


async def shared_of(conn: AsyncConnection, channel_ids: list[str]) -> list[SharedRow]:
    return list(map(SharedRow._make, await _SHARED.fetch(conn, {"ids": channel_ids})))


async def counted_of(
    conn: AsyncConnection, me: uuid.UUID, channel_ids: list[str]
) -> dict[str, Counted]:
    """The caller's (unread count, newest message time) in these channels, by SQL."""
    rows = await _COUNTED.fetch(conn, {"me": me, "ids": channel_ids})
    return {channel_id: (unread, newest) for channel_id, unread, newest in rows}


async def set_read_marker(
    conn: AsyncConnection, channel_id: uuid.UUID, user_id: uuid.UUID, message_id: uuid.UUID
) -> uuid.UUID | None:
    """Move the marker forward only; returns the marker after the update."""
    result = await conn.execute(
        sa.update(channel_members)
        .where(m.channel_id == channel_id, m.user_id == user_id)
        .values(
            last_read_id=sa.func.greatest(sa.func.coalesce(m.last_read_id, message_id), message_id)
        )
        .returning(m.last_read_id)
    )
    row = result.first()
    return row[0] if row else None
