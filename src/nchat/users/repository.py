"""All SQL of the users feature."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.auth import session_cache
from nchat.db import like
from nchat.tables.auth import sessions
from nchat.tables.files import file_deletions
from nchat.tables.users import users


async def get_by_id(
    conn: AsyncConnection, user_id: uuid.UUID, *, lock: bool = False
) -> RowMapping | None:
    query = sa.select(users).where(users.c.id == user_id)
    result = await conn.execute(query.with_for_update() if lock else query)
    return result.mappings().first()


async def get_by_login(conn: AsyncConnection, login: str) -> RowMapping | None:
    """Find a live user by username or email, case-insensitively."""
    key = login.strip().lower()
    column = sa.func.lower(users.c.email) if "@" in key else sa.func.lower(users.c.username)
    result = await conn.execute(sa.select(users).where(column == key, users.c.deleted_at.is_(None)))
    return result.mappings().first()


async def exists_username_or_email(conn: AsyncConnection, username: str, email: str) -> str | None:
    """Which of the two is taken, if any ('username' or 'email')."""
    result = await conn.execute(
        sa.select(
            sa.func.bool_or(sa.func.lower(users.c.username) == username.lower()),
            sa.func.bool_or(sa.func.lower(users.c.email) == email.lower()),
        ).where(
            sa.or_(
                sa.func.lower(users.c.username) == username.lower(),
                sa.func.lower(users.c.email) == email.lower(),
            )
        )
    )
    by_name, by_email = result.one()
    if by_name:
        return "username"
    if by_email:
        return "email"
    return None


async def insert(conn: AsyncConnection, values: dict[str, Any]) -> RowMapping:
    result = await conn.execute(sa.insert(users).values(**values).returning(users))
    row: RowMapping = result.mappings().one()
    return row


async def update(conn: AsyncConnection, user_id: uuid.UUID, values: dict[str, Any]) -> RowMapping:
    session_cache.changed(conn, user_id)  # role, name, activity: what a principal carries
    result = await conn.execute(
        sa.update(users)
        .where(users.c.id == user_id)
        .values(**values, updated_at=sa.func.now())
        .returning(users)
    )
    row: RowMapping = result.mappings().one()
    return row


async def count_users(conn: AsyncConnection) -> int:
    return int(await conn.scalar(sa.select(sa.func.count()).select_from(users)) or 0)


async def count_active_owners(conn: AsyncConnection, *, lock: bool = False) -> int:
    query = sa.select(users.c.id).where(
        users.c.role == "owner", users.c.deleted_at.is_(None), users.c.is_active
    )
    if lock:
        # Lock the owner rows so two concurrent demotions cannot both see "another owner left".
        query = query.with_for_update()
    return len((await conn.execute(query)).all())


async def search(
    conn: AsyncConnection, *, q: str | None, after: str | None, limit: int
) -> list[RowMapping]:
    key = sa.func.lower(users.c.username)
    query = sa.select(users).where(users.c.deleted_at.is_(None))
    if q:
        pattern = like.contains(q)
        # Accents folded on both sides: `jose` finds José.
        folded = sa.func.unaccent(pattern)
        query = query.where(
            sa.or_(
                key.like(folded),
                sa.func.unaccent(sa.func.lower(users.c.display_name)).like(folded),
            )
        )
    if after is not None:
        query = query.where(key > after)
    result = await conn.execute(query.order_by(key).limit(limit))
    return list(result.mappings().all())


async def revoke_all_sessions(conn: AsyncConnection, user_id: uuid.UUID, reason: str) -> None:
    session_cache.changed(conn, user_id)
    await conn.execute(
        sa.update(sessions)
        .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=sa.func.now(), revoked_reason=reason)
    )


async def revoke_other_sessions(
    conn: AsyncConnection, user_id: uuid.UUID, *, keep: uuid.UUID, reason: str
) -> int:
    """End every live session of the user but `keep`; how many ended."""
    session_cache.changed(conn, user_id)
    result = await conn.execute(
        sa.update(sessions)
        .where(
            sessions.c.user_id == user_id,
            sessions.c.id != keep,
            sessions.c.revoked_at.is_(None),
        )
        .values(revoked_at=sa.func.now(), revoked_reason=reason)
    )
    return int(result.rowcount)


async def queue_object_removal(conn: AsyncConnection, key: str) -> None:
    """Hand a store object no row names any more (a replaced avatar) to housekeeping, which
    removes it after this transaction commits (files/service.py remove_queued)."""
    await conn.execute(
        pg_insert(file_deletions).values(key=key).on_conflict_do_nothing(index_elements=["key"])
    )
