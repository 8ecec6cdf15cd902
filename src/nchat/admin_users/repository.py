"""All SQL of the admin's user management and statistics."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.auth import session_cache
from nchat.db import like
from nchat.realtime.presence import GRACE_S, PRESENCE_TTL_S
from nchat.tables.auth import login_addresses, login_failures, sessions
from nchat.tables.files import files
from nchat.tables.messages import bookmarks, messages, thread_followers
from nchat.tables.notifications import (
    channel_notification_settings,
    notification_settings,
    notifications,
    push_devices,
)
from nchat.tables.realtime import presence
from nchat.tables.sync import sync_ops
from nchat.tables.users import users

u = users.c

# Last seen: the latest use of a session (sign-in, refresh: at least once per access token's
# lifetime while the user is around) or of a socket (presence rows a live socket keeps fresh).
_session_seen = (
    sa.select(sa.func.max(sessions.c.last_used_at))
    .where(sessions.c.user_id == u.id)
    .scalar_subquery()
)
_socket_seen = (
    sa.select(sa.func.max(presence.c.last_seen)).where(presence.c.user_id == u.id).scalar_subquery()
)
LAST_SEEN = sa.func.greatest(_session_seen, _socket_seen)
_LIVE_SESSIONS = (
    sa.select(sa.func.count())
    .where(
        sessions.c.user_id == u.id,
        sessions.c.revoked_at.is_(None),
        sessions.c.expires_at > sa.func.now(),
    )
    .scalar_subquery()
)


async def search(
    conn: AsyncConnection,
    *,
    role: str | None,
    active: bool | None,
    seen_before: datetime | None,
    seen_after: datetime | None,
    q: str | None,
    before_id: uuid.UUID | None,
    limit: int,
) -> list[RowMapping]:
    """Live (not deleted) users, newest first, with when they were last seen and how many
    live sessions they have."""
    seen = LAST_SEEN.label("last_seen_at")
    inner = sa.select(users, seen, _LIVE_SESSIONS.label("session_count")).where(
        u.deleted_at.is_(None)
    )
    if role is not None:
        inner = inner.where(u.role == role)
    if active is not None:
        inner = inner.where(u.is_active.is_(active))
    if q:
        pattern = like.contains(q)
        inner = inner.where(
            sa.or_(
                sa.func.lower(u.username).like(pattern),
                sa.func.lower(u.email).like(pattern),
                sa.func.lower(u.display_name).like(pattern),
            )
        )
    if before_id is not None:
        inner = inner.where(u.id < before_id)
    page = inner.subquery()
    query = sa.select(page)
    if seen_before is not None:
        query = query.where(
            sa.or_(page.c.last_seen_at.is_(None), page.c.last_seen_at < seen_before)
        )
    if seen_after is not None:
        query = query.where(page.c.last_seen_at > seen_after)
    result = await conn.execute(query.order_by(page.c.id.desc()).limit(limit))
    return list(result.mappings().all())


async def summary(conn: AsyncConnection, user_id: uuid.UUID) -> RowMapping:
    query = sa.select(
        users, LAST_SEEN.label("last_seen_at"), _LIVE_SESSIONS.label("session_count")
    ).where(u.id == user_id)
    return (await conn.execute(query)).mappings().one()


async def count_live_sessions(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    query = sa.select(_LIVE_SESSIONS).select_from(users).where(u.id == user_id)
    return int(await conn.scalar(query) or 0)


async def erase_personal_data(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Remove what a deleted person leaves besides their messages: sessions (with the
    devices they registered), settings, bookmarks, pending notifications, presence, the
    offline queue, sign-in failures counted against them and the addresses they signed in
    from."""
    session_cache.changed(conn, user_id)
    for table in (
        push_devices,
        sessions,
        login_addresses,
        notification_settings,
        channel_notification_settings,
        notifications,
        bookmarks,
        thread_followers,
        presence,
        sync_ops,
    ):
        await conn.execute(sa.delete(table).where(table.c.user_id == user_id))
    await conn.execute(
        sa.delete(login_failures).where(login_failures.c.account == f"user:{user_id}")
    )


async def user_counts(conn: AsyncConnection, now: datetime) -> dict[str, int]:
    seen = LAST_SEEN
    live = u.deleted_at.is_(None)

    def seen_within(days: int) -> sa.ColumnElement[int]:
        return sa.func.count().filter(live, seen >= now - timedelta(days=days))

    row = (
        (
            await conn.execute(
                sa.select(
                    sa.func.count().filter(live).label("total"),
                    sa.func.count().filter(live, u.is_active).label("active"),
                    seen_within(1).label("active_1d"),
                    seen_within(7).label("active_7d"),
                    seen_within(30).label("active_30d"),
                ).select_from(users)
            )
        )
        .mappings()
        .one()
    )
    return {key: int(value or 0) for key, value in row.items()}


def _uuid7_floor(moment: datetime) -> uuid.UUID:
    """The smallest UUIDv7 of that millisecond: message ids are UUIDv7 made by the server,
    so a range of them is a range of the primary key instead of a scan of every message
    (a day early, for clocks that disagree)."""
    ms = int(moment.timestamp() * 1000)
    return uuid.UUID(int=(ms << 80) | (0x7 << 76))


async def messages_per_day(conn: AsyncConnection, first_day: date) -> dict[date, int]:
    """Messages written on each UTC day since `first_day` (deleted ones included: they were
    sent). Days without any are missing."""
    start = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC)
    day = sa.cast(sa.func.timezone("UTC", messages.c.created_at), sa.Date).label("day")
    query = (
        sa.select(day, sa.func.count())
        .where(
            messages.c.id >= _uuid7_floor(start - timedelta(days=1)),
            messages.c.created_at >= start,
        )
        .group_by(day)
    )
    return {row[0]: int(row[1]) for row in (await conn.execute(query)).all()}


async def storage_use(conn: AsyncConnection) -> dict[str, Any]:
    row = (
        await conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(files.c.size), 0), sa.func.count())
        )
    ).one()
    return {"files_bytes": int(row[0]), "files": int(row[1])}


async def open_sockets(conn: AsyncConnection) -> tuple[int, int]:
    """Sockets open now on every node, and their distinct users: presence rows a heartbeat
    keeps fresh, not those of closed sockets left counting for their grace period."""
    since = datetime.now(UTC) - timedelta(seconds=PRESENCE_TTL_S - GRACE_S)
    row = (
        await conn.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(presence.c.user_id))).where(
                presence.c.last_seen > since
            )
        )
    ).one()
    return int(row[0]), int(row[1])
