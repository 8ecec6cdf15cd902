"""The SQL of the admin channel pages: all channels regardless of membership, and the hard
delete."""

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
    return sa.select(
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
    query = sa.select(channels).where(c.id == channel_id).with_for_update()
    return (await conn.execute(query)).mappings().first()


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


async def delete(conn: AsyncConnection, channel_id: uuid.UUID) -> None:
    """The channel and, through the schema's cascades, its memberships, messages (with their
    edits, reactions, pins, bookmarks, mentions, thread follows and notifications), files
    (queued for removal from the store by their trigger) and notification settings."""
    await conn.execute(sa.delete(channels).where(c.id == channel_id))
