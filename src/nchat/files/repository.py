"""All SQL of files: their rows, attaching them to a message, the deletion queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.tables.admin import app_config
from nchat.tables.files import file_deletions, files
from nchat.tables.messages import messages

f = files.c


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> RowMapping:
    row: RowMapping = (
        (await conn.execute(sa.insert(files).values(**values).returning(files))).mappings().one()
    )
    return row


async def get(conn: AsyncConnection, file_id: uuid.UUID) -> RowMapping | None:
    """The file with whether the message carrying it (if any) is deleted."""
    query = (
        sa.select(files, messages.c.deleted_at.label("message_deleted_at"))
        .select_from(files.outerjoin(messages, messages.c.id == f.message_id))
        .where(f.id == file_id)
    )
    row: RowMapping | None = (await conn.execute(query)).mappings().first()
    return row


async def lock_unattached(
    conn: AsyncConnection, file_ids: list[uuid.UUID], uploader_id: uuid.UUID
) -> list[RowMapping]:
    """The uploader's files among `file_ids` that no message carries, locked: a concurrent
    send of the same file waits, then finds it taken."""
    query = (
        sa.select(files)
        .where(f.id.in_(file_ids), f.uploader_id == uploader_id, f.message_id.is_(None))
        .with_for_update()
    )
    return list((await conn.execute(query)).mappings())


async def attach(
    conn: AsyncConnection, file_ids: list[uuid.UUID], message_id: uuid.UUID, channel_id: uuid.UUID
) -> None:
    await conn.execute(
        sa.update(files)
        .where(f.id.in_(file_ids))
        .values(message_id=message_id, channel_id=channel_id)
    )


async def of_channel(
    conn: AsyncConnection, channel_id: uuid.UUID, before: uuid.UUID | None, limit: int
) -> list[RowMapping]:
    """A channel's files on messages not deleted, newest first."""
    query = (
        sa.select(files)
        .join(messages, messages.c.id == f.message_id)
        .where(f.channel_id == channel_id, messages.c.deleted_at.is_(None))
        .order_by(f.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(f.id < before)
    return list((await conn.execute(query)).mappings())


async def delete_unattached(conn: AsyncConnection, older_than: datetime, limit: int) -> int:
    """Remove uploads no message took within the grace period (their objects are queued);
    the workspace's logo (branding.logo_file_id) stays."""
    logo = sa.select(app_config.c.branding["logo_file_id"].astext).scalar_subquery()
    stale = (
        sa.select(f.id)
        .where(
            f.message_id.is_(None),
            f.created_at < older_than,
            sa.cast(f.id, sa.Text) != sa.func.coalesce(logo, ""),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await conn.execute(sa.delete(files).where(f.id.in_(stale)))
    return int(result.rowcount or 0)


async def queued_deletions(conn: AsyncConnection, limit: int) -> list[str]:
    query = (
        sa.select(file_deletions.c.key)
        .order_by(file_deletions.c.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await conn.execute(query)).scalars())


async def forget_deletions(conn: AsyncConnection, keys: list[str]) -> None:
    await conn.execute(sa.delete(file_deletions).where(file_deletions.c.key.in_(keys)))
