"""The SQL of the admin channel pages: all channels regardless of membership, and the hard
delete: the channel marked and emptied of members at once, its contents removed in batches
after. A channel marked deleted is in no list and takes no admin change."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.db import like
from nchat.tables.channels import channel_members, channels
from nchat.tables.files import files
from nchat.tables.maintenance import maintenance
from nchat.tables.messages import messages
from nchat.tables.users import users

c = channels.c
m = channel_members.c


@dataclass(frozen=True, slots=True)
class AdminFilters:
    q: str | None
    kind: str | None
    archived: bool | None
    after: uuid.UUID | None
    limit: int


def _last_message_at() -> sa.ScalarSelect[object]:
    # One probe of the (channel_id, id) index of top-level messages, which includes created_at.
    return (
        sa.select(messages.c.created_at)
        .where(messages.c.channel_id == c.id, messages.c.thread_id.is_(None))
        .order_by(messages.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def _listed() -> sa.Select[Any]:
    return _live(
        sa.select(
            c.id,
            c.name,
            c.type,
            c.topic,
            c.read_only,
            c.archived_at,
            c.member_count,
            c.created_at,
            c.created_by,
            users.c.username.label("owner_username"),
            _last_message_at().label("last_message_at"),
        ).select_from(channels.outerjoin(users, users.c.id == c.created_by))
    )


def _live(query: sa.Select[Any]) -> sa.Select[Any]:
    return query.where(c.deleted_at.is_(None))


async def list_all(conn: AsyncConnection, filters: AdminFilters) -> list[RowMapping]:
    query = _listed().order_by(c.id).limit(filters.limit)
    if filters.q:
        query = query.where(c.name.like(sa.func.unaccent(like.contains(filters.q))))
    if filters.kind is not None:
        query = query.where(c.type == filters.kind)
    if filters.archived is True:
        query = query.where(c.archived_at.isnot(None))
    elif filters.archived is False:
        query = query.where(c.archived_at.is_(None))
    if filters.after is not None:
        query = query.where(c.id > filters.after)
    return list((await conn.execute(query)).mappings().all())


async def one(conn: AsyncConnection, channel_id: uuid.UUID) -> RowMapping | None:
    row: RowMapping | None = (
        (await conn.execute(_listed().where(c.id == channel_id))).mappings().first()
    )
    return row


async def lock(conn: AsyncConnection, channel_id: uuid.UUID) -> RowMapping | None:
    """The channel row, locked until commit: concurrent admin changes to it run one by one,
    and a send (which takes a key share lock through its foreign key) waits for a delete."""
    query = _live(sa.select(channels)).where(c.id == channel_id).with_for_update()
    row: RowMapping | None = (await conn.execute(query)).mappings().first()
    return row


async def member_ids(conn: AsyncConnection, channel_id: uuid.UUID) -> list[uuid.UUID]:
    query = sa.select(m.user_id).where(m.channel_id == channel_id).order_by(m.user_id)
    return [row[0] for row in (await conn.execute(query)).all()]


async def contents(conn: AsyncConnection, channel_id: uuid.UUID) -> dict[str, int]:
    """How many messages (replies and soft-deleted ones included) and files a delete removes."""
    query = sa.select(
        sa.select(sa.func.count())
        .select_from(messages)
        .where(messages.c.channel_id == channel_id)
        .scalar_subquery(),
        sa.select(sa.func.count())
        .select_from(files)
        .where(files.c.channel_id == channel_id)
        .scalar_subquery(),
    )
    row = (await conn.execute(query)).one()
    return {"messages": int(row[0]), "files": int(row[1])}


async def mark_deleted(conn: AsyncConnection, channel_id: uuid.UUID) -> None:
    """What makes the deletion take effect at once, in one short transaction: the members go
    (every read and write of a channel asks for a membership, or for a public channel), the
    channel is no longer public, and its name or DM key is free for a new one. What is
    left of it nobody can reach; `delete_messages` and `remove` take it away."""
    await conn.execute(sa.delete(channel_members).where(m.channel_id == channel_id))
    tag = sa.cast(c.id, sa.Text)
    await conn.execute(
        sa.update(channels)
        .where(c.id == channel_id)
        .values(
            deleted_at=sa.func.now(),
            member_count=0,
            type=sa.case((c.type == "public", "private"), else_=c.type),
            name=sa.case((c.name.isnot(None), "deleted-" + tag), else_=None),
            dm_key=sa.case((c.dm_key.isnot(None), "deleted:" + tag), else_=None),
        )
    )


async def under_maintenance(conn: AsyncConnection) -> bool:
    """Maintenance mode's row (the table, not its package, which sits above this one)."""
    return bool(await conn.scalar(sa.select(sa.exists().select_from(maintenance))))


async def deleted(conn: AsyncConnection, limit: int) -> list[uuid.UUID]:
    """Channels marked deleted and not yet removed, oldest mark first."""
    query = (
        sa.select(c.id).where(c.deleted_at.isnot(None)).order_by(c.deleted_at, c.id).limit(limit)
    )
    return [row[0] for row in (await conn.execute(query)).all()]


async def delete_messages(conn: AsyncConnection, channel_id: uuid.UUID, *, limit: int) -> int:
    """Delete up to `limit` messages of a channel marked deleted, the newest first: a reply is
    newer than its root, so a root's cascade finds its replies gone already and each batch
    stays `limit` rows. Their edits, reactions, pins, bookmarks, mentions, thread follows,
    notifications and files go by the schema's cascades (the files trigger queues the
    stored objects for housekeeping to remove). The number deleted."""
    chosen = (
        sa.select(messages.c.id)
        .join(channels, c.id == messages.c.channel_id)
        .where(messages.c.channel_id == channel_id, c.deleted_at.isnot(None))
        .order_by(messages.c.id.desc())
        .limit(limit)
        .scalar_subquery()
    )
    result = await conn.execute(sa.delete(messages).where(messages.c.id.in_(chosen)))
    return result.rowcount or 0


async def remove(conn: AsyncConnection, channel_id: uuid.UUID) -> bool:
    """The channel's row, once emptied: the cascades take what is left (a message sent as
    the delete began, uploads not attached yet, notification settings, its retention
    policy). Whether it was still there."""
    statement = sa.delete(channels).where(c.id == channel_id, c.deleted_at.isnot(None))
    return ((await conn.execute(statement)).rowcount or 0) > 0
