"""All SQL of sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.auth import session_cache
from nchat.tables.auth import sessions
from nchat.tables.users import users


async def insert_session(
    conn: AsyncConnection,
    *,
    session_id: uuid.UUID,
    user_id: uuid.UUID,
    refresh_hash: str,
    expires_at: datetime,
    user_agent: str | None,
    ip: str | None,
) -> None:
    await conn.execute(
        sa.insert(sessions).values(
            id=session_id,
            user_id=user_id,
            refresh_hash=refresh_hash,
            expires_at=expires_at,
            user_agent=user_agent,
            ip=ip,
        )
    )


async def get_session_for_update(conn: AsyncConnection, session_id: uuid.UUID) -> RowMapping | None:
    result = await conn.execute(
        sa.select(sessions).where(sessions.c.id == session_id).with_for_update()
    )
    return result.mappings().first()


async def rotate(
    conn: AsyncConnection, session_id: uuid.UUID, *, refresh_hash: str, expires_at: datetime
) -> None:
    await conn.execute(
        sa.update(sessions)
        .where(sessions.c.id == session_id)
        .values(
            refresh_hash=refresh_hash,
            generation=sessions.c.generation + 1,
            last_used_at=sa.func.now(),
            expires_at=expires_at,
        )
    )


async def revoke(
    conn: AsyncConnection, session_id: uuid.UUID, *, reason: str, user_id: uuid.UUID | None = None
) -> bool:
    query = sa.update(sessions).where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
    if user_id is not None:
        query = query.where(sessions.c.user_id == user_id)
    result = await conn.execute(
        query.values(revoked_at=sa.func.now(), revoked_reason=reason).returning(sessions.c.user_id)
    )
    row = result.first()
    if row is None:
        return False
    session_cache.changed(conn, row[0])
    return True


# What makes a session live: not revoked, not expired, its user active and not deleted.
_LIVE = (
    sessions.c.revoked_at.is_(None),
    sessions.c.expires_at > sa.func.now(),
    users.c.deleted_at.is_(None),
    users.c.is_active,
)
# Every authenticated request runs this: built once, since building a statement costs more
# than executing a cached one.
_LIVE_SESSION_USER = (
    sa.select(users)
    .join(sessions, sessions.c.user_id == users.c.id)
    .where(
        sessions.c.id == sa.bindparam("session_id", type_=UUID(as_uuid=True)),
        users.c.id == sa.bindparam("user_id", type_=UUID(as_uuid=True)),
        *_LIVE,
    )
)
_LIVE_AMONG = (
    sa.select(sessions.c.id)
    .join(users, users.c.id == sessions.c.user_id)
    .where(sessions.c.id == sa.func.any(sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True)))))
    .where(*_LIVE)
)


async def live_among(conn: AsyncConnection, session_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these sessions are still live, in one round trip."""
    return set((await conn.execute(_LIVE_AMONG, {"ids": session_ids})).scalars())


async def user_for_live_session(
    conn: AsyncConnection, *, user_id: uuid.UUID, session_id: uuid.UUID
) -> RowMapping | None:
    """The user behind an access token, in one round trip, if the session is still live."""
    params = {"session_id": session_id, "user_id": user_id}
    return (await conn.execute(_LIVE_SESSION_USER, params)).mappings().first()


async def list_live_sessions(conn: AsyncConnection, user_id: uuid.UUID) -> list[RowMapping]:
    result = await conn.execute(
        sa.select(sessions)
        .where(
            sessions.c.user_id == user_id,
            sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > sa.func.now(),
        )
        .order_by(sessions.c.last_used_at.desc())
    )
    return list(result.mappings().all())


async def prune_ended(conn: AsyncConnection, *, before: datetime, limit: int) -> int:
    """Delete up to `limit` sessions that expired or were revoked before `before` (their
    refresh tokens are refused either way; the rows only served the sessions list and
    audits)."""
    ended = (
        sa.select(sessions.c.id)
        .where(sa.or_(sessions.c.expires_at < before, sessions.c.revoked_at < before))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await conn.execute(sa.delete(sessions).where(sessions.c.id.in_(ended)))
    return result.rowcount
