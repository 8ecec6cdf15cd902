"""All SQL of offline sync: recorded operations, device sync state, bootstrap pages."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.messages.repository import message_rows
from nchat.tables.auth import sessions
from nchat.tables.messages import messages
from nchat.tables.sync import sync_ops

op = sync_ops.c


async def recorded(
    conn: AsyncConnection, user_id: uuid.UUID, client_op_id: str
) -> RowMapping | None:
    query = sa.select(sync_ops).where(op.user_id == user_id, op.client_op_id == client_op_id)
    row: RowMapping | None = (await conn.execute(query)).mappings().first()
    return row


async def claim(
    conn: AsyncConnection, user_id: uuid.UUID, client_op_id: str, type_: str, digest: str
) -> bool:
    """Reserve the operation id; False when another request has it (then it waits for that
    request to finish first, through the primary key)."""
    query = (
        pg_insert(sync_ops)
        .values(
            user_id=user_id,
            client_op_id=client_op_id,
            type=type_,
            status="applied",
            digest=digest,
        )
        .on_conflict_do_nothing()
        .returning(op.client_op_id)
    )
    return (await conn.execute(query)).first() is not None


async def finish(
    conn: AsyncConnection, user_id: uuid.UUID, client_op_id: str, *, result: dict[str, Any] | None
) -> None:
    await conn.execute(
        sa.update(sync_ops)
        .where(op.user_id == user_id, op.client_op_id == client_op_id)
        .values(result=result)
    )


async def record_rejected(
    conn: AsyncConnection,
    user_id: uuid.UUID,
    client_op_id: str,
    type_: str,
    *,
    digest: str,
    error: dict[str, Any],
) -> None:
    await conn.execute(
        pg_insert(sync_ops)
        .values(
            user_id=user_id,
            client_op_id=client_op_id,
            type=type_,
            status="rejected",
            error=error,
            digest=digest,
        )
        .on_conflict_do_nothing()
    )


# An empty page moves the stored cursor at most this often: a device polling an idle
# account then writes nothing, and a write would hold back event delivery for everyone
# until it commits (the log's horizon).
MARK_IDLE_EVERY = timedelta(seconds=30)


async def mark_synced(
    conn: AsyncConnection, session_id: uuid.UUID, cursor: str, *, delivered: bool
) -> None:
    """Store the session's sync cursor. An UPDATE matching no row writes nothing."""
    query = (
        sa.update(sessions)
        .where(sessions.c.id == session_id)
        .values(last_sync_at=sa.func.now(), last_sync_cursor=cursor)
    )
    if not delivered:
        query = query.where(
            sa.or_(
                sessions.c.last_sync_at.is_(None),
                sessions.c.last_sync_at < sa.func.now() - MARK_IDLE_EVERY,
            )
        )
    await conn.execute(query)


async def sync_state(conn: AsyncConnection, session_id: uuid.UUID) -> RowMapping | None:
    query = sa.select(sessions.c.last_sync_at, sessions.c.last_sync_cursor).where(
        sessions.c.id == session_id
    )
    row: RowMapping | None = (await conn.execute(query)).mappings().first()
    return row


async def latest_per_channel(
    conn: AsyncConnection, channel_ids: list[uuid.UUID], per_channel: int
) -> list[RowMapping]:
    """The newest channel-level messages of each channel: one index probe per channel."""
    if not channel_ids or per_channel <= 0:
        return []
    ids = (
        sa.func.unnest(sa.cast(channel_ids, sa.ARRAY(sa.UUID())))
        .table_valued("id")
        .render_derived(name="c")
    )
    latest = (
        message_rows()
        .where(messages.c.channel_id == ids.c.id, messages.c.thread_id.is_(None))
        .order_by(messages.c.id.desc())
        .limit(per_channel)
        .lateral("latest")
    )
    query = sa.select(latest).select_from(ids.join(latest, sa.true()))
    return list((await conn.execute(query)).mappings().all())


async def prune_ops(conn: AsyncConnection, *, before: datetime, limit: int) -> int:
    """Forget up to `limit` recorded operations older than `before`: a queue replayed
    after that is applied again (decision 0053 says why the wait is long enough)."""
    old = (
        sa.select(op.user_id, op.client_op_id)
        .where(op.created_at < before)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await conn.execute(
        sa.delete(sync_ops).where(sa.tuple_(op.user_id, op.client_op_id).in_(old))
    )
    return result.rowcount
