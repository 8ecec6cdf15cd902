"""The SQL of retention: the policies, which messages they put past their limit, and the
batched delete of those.

A message is past its limit when it is older than its channel's cutoff (the channel's own
policy, else the workspace's) and, unless the policy includes them, not pinned. A thread's
root is past it only once every reply is too: a root goes with the last of its replies, so
no kept reply loses its context (decision 0055)."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.selectable import NamedFromClause

from nchat.tables.channels import channels
from nchat.tables.files import files
from nchat.tables.maintenance import maintenance
from nchat.tables.messages import messages, pinned_messages
from nchat.tables.retention import channel_retention, retention_policy

GLOBAL_ID = 1
POLICY_COLUMNS = ("message_days", "include_pinned", "updated_by", "updated_at")


# -- policies ----------------------------------------------------------------


async def under_maintenance(conn: AsyncConnection) -> bool:
    """Maintenance mode's row (the table, not its package, which sits above this one)."""
    return bool(await conn.scalar(sa.select(sa.exists().select_from(maintenance))))


async def get_global(conn: AsyncConnection) -> RowMapping | None:
    query = sa.select(retention_policy).where(retention_policy.c.id == GLOBAL_ID)
    return (await conn.execute(query)).mappings().first()


async def put_global(conn: AsyncConnection, values: dict[str, Any]) -> RowMapping:
    statement = (
        insert(retention_policy)
        .values(id=GLOBAL_ID, **values)
        .on_conflict_do_update(
            index_elements=[retention_policy.c.id], set_={**values, "updated_at": sa.func.now()}
        )
        .returning(retention_policy)
    )
    row: RowMapping = (await conn.execute(statement)).mappings().one()
    return row


async def lock_global(conn: AsyncConnection) -> RowMapping | None:
    query = sa.select(retention_policy).where(retention_policy.c.id == GLOBAL_ID).with_for_update()
    return (await conn.execute(query)).mappings().first()


async def get_channel(
    conn: AsyncConnection, channel_id: uuid.UUID, *, lock: bool = False
) -> RowMapping | None:
    query = sa.select(channel_retention).where(channel_retention.c.channel_id == channel_id)
    if lock:
        query = query.with_for_update()
    return (await conn.execute(query)).mappings().first()


async def put_channel(
    conn: AsyncConnection, channel_id: uuid.UUID, values: dict[str, Any]
) -> RowMapping:
    statement = (
        insert(channel_retention)
        .values(channel_id=channel_id, **values)
        .on_conflict_do_update(
            index_elements=[channel_retention.c.channel_id],
            set_={**values, "updated_at": sa.func.now()},
        )
        .returning(channel_retention)
    )
    row: RowMapping = (await conn.execute(statement)).mappings().one()
    return row


async def delete_channel(conn: AsyncConnection, channel_id: uuid.UUID) -> RowMapping | None:
    statement = (
        sa.delete(channel_retention)
        .where(channel_retention.c.channel_id == channel_id)
        .returning(channel_retention)
    )
    return (await conn.execute(statement)).mappings().first()


async def channel_exists(conn: AsyncConnection, channel_id: uuid.UUID) -> bool:
    query = sa.select(channels.c.id).where(channels.c.id == channel_id)
    return (await conn.execute(query)).first() is not None


async def effective_for(conn: AsyncConnection, ids: list[uuid.UUID]) -> dict[uuid.UUID, RowMapping]:
    """The channels' names and the policy that applies to each."""
    if not ids:
        return {}
    eff = _effective()
    query = (
        sa.select(eff, channels.c.name)
        .join(channels, channels.c.id == eff.c.channel_id)
        .where(eff.c.channel_id.in_(ids))
    )
    return {r["channel_id"]: r for r in (await conn.execute(query)).mappings()}


# -- what is past its limit --------------------------------------------------


def _effective() -> sa.Subquery:
    """Each channel with a limit: its own policy if it has one, else the workspace's."""
    own, workspace = channel_retention.c, retention_policy.c
    has_own = own.channel_id.is_not(None)
    query = (
        sa.select(
            channels.c.id.label("channel_id"),
            sa.case((has_own, own.message_days), else_=workspace.message_days).label("days"),
            sa.case(
                (has_own, own.include_pinned),
                else_=sa.func.coalesce(workspace.include_pinned, sa.false()),
            ).label("include_pinned"),
        )
        .select_from(channels)
        .outerjoin(channel_retention, own.channel_id == channels.c.id)
        .outerjoin(retention_policy, workspace.id == GLOBAL_ID)
    )
    return query.subquery("effective")


def _pinned(message_id: sa.ColumnElement[Any]) -> sa.Exists:
    return sa.exists().where(pinned_messages.c.message_id == message_id)


@dataclass(frozen=True)
class _Past:
    """The select of every message past its limit at `now`, with its cutoff."""

    query: sa.Select[Any]
    message: NamedFromClause


def _past(now: datetime) -> _Past:
    m = messages.alias("m")
    reply = messages.alias("reply")
    eff = _effective()
    at = sa.bindparam("now", now, type_=sa.DateTime(timezone=True))
    cutoff = (at - sa.func.make_interval(0, 0, 0, eff.c.days)).label("cutoff")
    kept_reply = sa.exists().where(
        reply.c.thread_id == m.c.id,
        sa.or_(
            reply.c.created_at >= cutoff,
            sa.and_(sa.not_(eff.c.include_pinned), _pinned(reply.c.id)),
        ),
    )
    query = (
        sa.select(
            m.c.id,
            m.c.channel_id,
            m.c.thread_id,
            m.c.deleted_at,
            cutoff,
            eff.c.include_pinned,
        )
        .select_from(m.join(eff, eff.c.channel_id == m.c.channel_id))
        .where(
            eff.c.days.is_not(None),
            m.c.created_at < cutoff,
            sa.or_(eff.c.include_pinned, sa.not_(_pinned(m.c.id))),
            sa.or_(m.c.thread_id.is_not(None), sa.not_(kept_reply)),
        )
    )
    return _Past(query=query, message=m)


@dataclass
class Counts:
    messages: Counter[uuid.UUID] = field(default_factory=Counter)
    files: Counter[uuid.UUID] = field(default_factory=Counter)

    def add(self, other: Counts) -> None:
        self.messages.update(other.messages)
        self.files.update(other.files)


async def count_past(conn: AsyncConnection, now: datetime) -> Counts:
    """Per channel: the messages past their limit and the files they carry."""
    past = _past(now).query.subquery("past")
    by_channel = sa.select(past.c.channel_id, sa.func.count()).group_by(past.c.channel_id)
    attached = (
        sa.select(files.c.channel_id, sa.func.count())
        .where(files.c.message_id.in_(sa.select(past.c.id)))
        .group_by(files.c.channel_id)
    )
    counts = Counts()
    for channel_id, n in await conn.execute(by_channel):
        counts.messages[channel_id] = n
    for channel_id, n in await conn.execute(attached):
        counts.files[channel_id] = n
    return counts


@dataclass(frozen=True)
class Batch:
    counts: Counts
    last_id: uuid.UUID | None  # None: nothing was left after the position given


async def delete_batch(
    conn: AsyncConnection, now: datetime, *, after: uuid.UUID | None, limit: int
) -> Batch:
    """Delete the next `limit` messages past their limit (in id order, after `after`), with
    their files (whose objects the files trigger queues for removal). Rows someone else holds
    locked are skipped until the next run: a retention run never waits on a writer."""
    past = _past(now)
    m = past.message
    query = past.query.order_by(m.c.id).limit(limit).with_for_update(of=m, skip_locked=True)
    if after is not None:
        query = query.where(m.c.id > after)
    rows = list((await conn.execute(query)).mappings())
    if not rows:
        return Batch(counts=Counts(), last_id=None)
    chosen = {r["id"]: r for r in rows}
    roots = [r for r in rows if r["thread_id"] is None]
    replies_of = await _replies_of(conn, [r["id"] for r in roots])
    # A reply that came after the select took its snapshot keeps its root (sends lock the root,
    # so none can come now that it is locked here).
    for root in roots:
        for reply in replies_of.get(root["id"], []):
            young = reply["created_at"] >= root["cutoff"]
            if young or (reply["pinned"] and not root["include_pinned"]):
                del chosen[root["id"]]
                break
    channel_of: dict[uuid.UUID, uuid.UUID] = {i: r["channel_id"] for i, r in chosen.items()}
    for root_id in [i for i, r in chosen.items() if r["thread_id"] is None]:
        for reply in replies_of.get(root_id, []):
            channel_of[reply["id"]] = chosen[root_id]["channel_id"]
    ids = list(channel_of)
    counts = Counts()
    if ids:
        counts = await _delete(conn, ids)
        await _uncount_replies(
            conn, [r for i, r in chosen.items() if r["thread_id"] is not None], set(ids)
        )
    return Batch(counts=counts, last_id=rows[-1]["id"])


async def _replies_of(
    conn: AsyncConnection, root_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[RowMapping]]:
    if not root_ids:
        return {}
    m = messages.c
    # Read, not locked: the delete below locks them.
    query = sa.select(m.id, m.thread_id, m.created_at, _pinned(m.id).label("pinned")).where(
        m.thread_id.in_(root_ids)
    )
    found: dict[uuid.UUID, list[RowMapping]] = {}
    for row in (await conn.execute(query)).mappings():
        found.setdefault(row["thread_id"], []).append(row)
    return found


async def _delete(conn: AsyncConnection, ids: list[uuid.UUID]) -> Counts:
    counts = Counts()
    id_list = sa.bindparam("ids", ids, type_=ARRAY(UUID(as_uuid=True)))
    # Files first, for their count: the rows' delete trigger queues their objects.
    removed_files = sa.delete(files).where(files.c.message_id == sa.any_(id_list))
    for (channel_id,) in await conn.execute(removed_files.returning(files.c.channel_id)):
        counts.files[channel_id] += 1
    removed = sa.delete(messages).where(messages.c.id == sa.any_(id_list))
    for (channel_id,) in await conn.execute(removed.returning(messages.c.channel_id)):
        counts.messages[channel_id] += 1
    return counts


async def _uncount_replies(
    conn: AsyncConnection, replies: list[RowMapping], deleted: set[uuid.UUID]
) -> None:
    """Roots that stay count their live replies only (as a user's delete does)."""
    gone = Counter(
        r["thread_id"]
        for r in replies
        if r["deleted_at"] is None and r["thread_id"] not in deleted and r["id"] in deleted
    )
    for root_id, n in sorted(gone.items()):
        await conn.execute(
            sa.update(messages)
            .where(messages.c.id == root_id)
            .values(reply_count=sa.func.greatest(messages.c.reply_count - n, 0))
        )


async def overrides(conn: AsyncConnection, limit: int) -> list[RowMapping]:
    """The channels with a policy of their own, by name, with it."""
    query = (
        sa.select(channel_retention, channels.c.name, channels.c.type)
        .join(channels, channels.c.id == channel_retention.c.channel_id)
        .order_by(channels.c.name, channels.c.id)
        .limit(limit)
    )
    return list((await conn.execute(query)).mappings())
