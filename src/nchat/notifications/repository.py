"""All SQL of notifications: devices, preferences, the rows waiting on their delay."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.db.ids import uuid7
from nchat.tables.channels import channel_members
from nchat.tables.notifications import (
    channel_notification_settings,
    notification_settings,
    notifications,
    notifier_position,
    push_devices,
)

d = push_devices.c
n = notifications.c
s = notification_settings.c
cs = channel_notification_settings.c


# -- devices -----------------------------------------------------------------------------


async def upsert_device(
    conn: AsyncConnection, user_id: uuid.UUID, session_id: uuid.UUID, values: dict[str, Any]
) -> RowMapping:
    fields = {"session_id": session_id, **values}
    statement = pg_insert(push_devices).values(id=uuid7(), user_id=user_id, **fields)
    statement = statement.on_conflict_do_update(
        index_elements=[d.user_id, d.device_id],
        set_={**fields, "updated_at": sa.func.now()},
    )
    row: RowMapping = (await conn.execute(statement.returning(push_devices))).mappings().one()
    return row


async def count_devices(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    return int(await conn.scalar(sa.select(sa.func.count()).where(d.user_id == user_id)) or 0)


async def has_device(conn: AsyncConnection, user_id: uuid.UUID, device_id: str) -> bool:
    found = await conn.scalar(sa.select(d.id).where(d.user_id == user_id, d.device_id == device_id))
    return found is not None


async def delete_device(conn: AsyncConnection, user_id: uuid.UUID, device_id: str) -> bool:
    result = await conn.execute(
        sa.delete(push_devices).where(d.user_id == user_id, d.device_id == device_id)
    )
    return bool(result.rowcount)


async def delete_devices_by_id(conn: AsyncConnection, ids: Sequence[uuid.UUID]) -> None:
    if ids:
        await conn.execute(sa.delete(push_devices).where(d.id.in_(list(ids))))


async def list_devices(conn: AsyncConnection, user_id: uuid.UUID) -> list[RowMapping]:
    query = sa.select(push_devices).where(d.user_id == user_id).order_by(d.created_at)
    return list((await conn.execute(query)).mappings())


async def devices_of(conn: AsyncConnection, user_ids: Sequence[uuid.UUID]) -> list[RowMapping]:
    """The devices of these people whose session is still live."""
    from_sessions = sa.text(
        "EXISTS (SELECT 1 FROM nchat_sessions AS ss WHERE ss.id = nchat_push_devices.session_id "
        "AND ss.revoked_at IS NULL AND ss.expires_at > now())"
    )
    query = sa.select(push_devices).where(d.user_id.in_(list(user_ids)), from_sessions)
    return list((await conn.execute(query)).mappings())


# -- preferences -------------------------------------------------------------------------


async def get_settings(conn: AsyncConnection, user_id: uuid.UUID) -> RowMapping | None:
    query = sa.select(notification_settings).where(s.user_id == user_id)
    return (await conn.execute(query)).mappings().first()


async def put_settings(conn: AsyncConnection, user_id: uuid.UUID, values: dict[str, Any]) -> None:
    statement = pg_insert(notification_settings).values(user_id=user_id, **values)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[s.user_id], set_={**values, "updated_at": sa.func.now()}
        )
    )


async def settings_of(
    conn: AsyncConnection, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, RowMapping]:
    query = sa.select(notification_settings).where(s.user_id.in_(list(user_ids)))
    return {row["user_id"]: row for row in (await conn.execute(query)).mappings()}


async def get_channel_settings(
    conn: AsyncConnection, user_id: uuid.UUID, channel_id: uuid.UUID
) -> RowMapping | None:
    query = sa.select(channel_notification_settings).where(
        cs.user_id == user_id, cs.channel_id == channel_id
    )
    return (await conn.execute(query)).mappings().first()


async def channel_settings_of(conn: AsyncConnection, user_id: uuid.UUID) -> list[RowMapping]:
    """A person's settings that differ from the default, in the channels they are still in
    (a row outlives leaving the channel, and counts again on rejoining)."""
    cm = channel_members.c
    query = (
        sa.select(cs.channel_id, cs.level, cs.muted)
        .join(channel_members, sa.and_(cm.channel_id == cs.channel_id, cm.user_id == cs.user_id))
        .where(cs.user_id == user_id, sa.or_(cs.muted, cs.level != "default"))
        .order_by(cs.channel_id)
    )
    return list((await conn.execute(query)).mappings())


async def put_channel_settings(
    conn: AsyncConnection, user_id: uuid.UUID, channel_id: uuid.UUID, values: dict[str, Any]
) -> None:
    statement = pg_insert(channel_notification_settings).values(
        user_id=user_id, channel_id=channel_id, **values
    )
    await conn.execute(
        statement.on_conflict_do_update(index_elements=[cs.user_id, cs.channel_id], set_=values)
    )


# -- who is told: the notifier's rows ----------------------------------------------------

# For each new message (not deleted, at most a day old) the people to tell and why: 1 a DM,
# 2 a mention (the send resolved @channel and @here into nchat_mentions), 3 a reply in a
# thread they follow, 4 any other message, which only an `all` level tells. A muted channel
# and `nothing` tell nobody; the channel's own level wins over the person's.
_DECIDE = sa.text(
    """
    WITH batch AS (
        SELECT m.id, m.channel_id, m.user_id AS author_id, m.thread_id, m.created_at,
               c.type IN ('direct', 'group') AS is_dm
        FROM nchat_messages m JOIN nchat_channels c ON c.id = m.channel_id
        WHERE m.id = ANY(:ids) AND m.deleted_at IS NULL
          AND m.created_at > now() - interval '1 day'
    ),
    candidates AS (
        SELECT b.id AS message_id, b.channel_id, b.created_at, cm.user_id,
               CASE WHEN b.is_dm THEN 1
                    WHEN EXISTS (SELECT 1 FROM nchat_mentions mn
                                 WHERE mn.message_id = b.id AND mn.user_id = cm.user_id) THEN 2
                    WHEN b.thread_id IS NOT NULL AND EXISTS (
                        SELECT 1 FROM nchat_thread_followers f
                        WHERE f.message_id = b.thread_id AND f.user_id = cm.user_id) THEN 3
                    ELSE 4 END AS rank
        FROM batch b
        JOIN nchat_channel_members cm
          ON cm.channel_id = b.channel_id AND cm.user_id <> b.author_id
    )
    INSERT INTO nchat_notifications (user_id, message_id, channel_id, reason, push_state,
                                     push_due_at, email_state, email_due_at)
    SELECT c.user_id, c.message_id, c.channel_id,
           (ARRAY['dm', 'mention', 'thread', 'message'])[c.rank],
           CASE WHEN EXISTS (SELECT 1 FROM nchat_push_devices pd WHERE pd.user_id = c.user_id)
                THEN 'pending' ELSE 'none' END,
           c.created_at + make_interval(secs => :push_delay),
           CASE WHEN :email AND c.rank <= 2 AND coalesce(s.email, true)
                THEN 'pending' ELSE 'none' END,
           c.created_at + make_interval(secs => :email_delay)
    FROM candidates c
    JOIN nchat_users u ON u.id = c.user_id AND u.is_active AND u.deleted_at IS NULL
    LEFT JOIN nchat_notification_settings s ON s.user_id = c.user_id
    LEFT JOIN nchat_channel_notification_settings cs
      ON cs.user_id = c.user_id AND cs.channel_id = c.channel_id
    WHERE NOT coalesce(cs.muted, false)
      AND CASE coalesce(nullif(cs.level, 'default'), s.level, 'mentions')
              WHEN 'all' THEN true
              WHEN 'mentions' THEN c.rank <= 3
              ELSE false END
    ON CONFLICT (message_id, user_id) DO NOTHING
    RETURNING message_id, user_id, channel_id, push_state, push_due_at, email_state,
              email_due_at
    """
)


async def decide(
    conn: AsyncConnection,
    message_ids: Sequence[uuid.UUID],
    *,
    push_delay_s: float,
    email_delay_s: float,
    email: bool,
) -> list[RowMapping]:
    params = {
        "ids": list(message_ids),
        "push_delay": push_delay_s,
        "email_delay": email_delay_s,
        "email": email,
    }
    return list((await conn.execute(_DECIDE, params)).mappings())


# The notifier's advisory lock key (the migrations and sign-in limits use others).
NOTIFIER_LOCK = 0x6E6E6F74


async def lock_position(conn: AsyncConnection) -> tuple[int, int] | None:
    """The notifier's position, with the right to move it for this transaction; None when
    another process holds it (it is deciding now). An advisory lock rather than a row lock:
    an idle poll then writes nothing."""
    held = await conn.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(NOTIFIER_LOCK)))
    if not held:
        return None
    row = (
        await conn.execute(sa.select(notifier_position.c.xid, notifier_position.c.event_id))
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


async def move_position(conn: AsyncConnection, xid: int, event_id: int) -> None:
    await conn.execute(
        sa.update(notifier_position).values(xid=xid, event_id=event_id, updated_at=sa.func.now())
    )


# -- delivery ----------------------------------------------------------------------------

# The pending pushes of one message that are due, with what decides whether they still go:
# the message deleted, read, its reader on a socket right now (`online` within the presence
# TTL), or in do-not-disturb by status.
_DUE_PUSHES = sa.text(
    """
    SELECT n.id, n.user_id, n.channel_id, n.message_id, n.reason, n.push_attempts,
           n.pushed_devices,
           m.deleted_at IS NOT NULL AS deleted,
           coalesce(cm.last_read_id >= n.message_id, false) AS read,
           p.statuses
    FROM nchat_notifications n
    JOIN nchat_messages m ON m.id = n.message_id
    LEFT JOIN nchat_channel_members cm
      ON cm.channel_id = n.channel_id AND cm.user_id = n.user_id
    LEFT JOIN LATERAL (
        SELECT array_agg(pr.status) AS statuses FROM nchat_presence pr
        WHERE pr.user_id = n.user_id AND pr.last_seen > :fresh
    ) p ON true
    WHERE n.message_id = :message_id AND n.push_state = 'pending' AND n.push_due_at <= now()
    ORDER BY n.id
    """
)


async def due_pushes(
    conn: AsyncConnection, message_id: uuid.UUID, fresh: datetime
) -> list[RowMapping]:
    params = {"message_id": message_id, "fresh": fresh}
    return list((await conn.execute(_DUE_PUSHES, params)).mappings())


async def end_pushes(conn: AsyncConnection, states: dict[int, str]) -> None:
    """Notifications whose push is over: id -> how it ended."""
    for state in set(states.values()):
        ids = [key for key, value in states.items() if value == state]
        await conn.execute(sa.update(notifications).where(n.id.in_(ids)).values(push_state=state))


async def retry_push(
    conn: AsyncConnection, row_id: int, *, due: datetime, reached: Sequence[uuid.UUID]
) -> None:
    await conn.execute(
        sa.update(notifications)
        .where(n.id == row_id)
        .values(
            push_due_at=due,
            push_attempts=n.push_attempts + 1,
            pushed_devices=sa.func.array_cat(
                n.pushed_devices, sa.cast(list(reached), n.pushed_devices.type)
            ),
        )
    )


# Unread mentions and DM messages per person: what a badge counts (capped: a badge shows
# "99+" long before it could count more).
_BADGES = sa.text(
    """
    SELECT cm.user_id,
           least(99, coalesce(sum(
               CASE WHEN c.type IN ('direct', 'group') THEN (
                   SELECT count(*) FROM (
                       SELECT 1 FROM nchat_messages m
                       WHERE m.channel_id = cm.channel_id AND m.user_id <> cm.user_id
                         AND m.deleted_at IS NULL
                         AND (cm.last_read_id IS NULL OR m.id > cm.last_read_id)
                       LIMIT 100) AS x)
               ELSE (
                   SELECT count(*) FROM (
                       SELECT 1 FROM nchat_mentions mn
                       WHERE mn.user_id = cm.user_id AND mn.channel_id = cm.channel_id
                         AND (cm.last_read_id IS NULL OR mn.message_id > cm.last_read_id)
                       LIMIT 100) AS x)
               END), 0))::int AS badge
    FROM nchat_channel_members cm JOIN nchat_channels c ON c.id = cm.channel_id
    WHERE cm.user_id = ANY(:user_ids)
      AND (c.type IN ('direct', 'group')
           OR (cm.last_mention_id IS NOT NULL
               AND (cm.last_read_id IS NULL OR cm.last_mention_id > cm.last_read_id)))
    GROUP BY cm.user_id
    """
)


async def badges(conn: AsyncConnection, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    rows = await conn.execute(_BADGES, {"user_ids": list(user_ids)})
    return {row.user_id: int(row.badge) for row in rows}


async def pending_messages(conn: AsyncConnection, *, overdue: datetime) -> list[tuple[Any, Any]]:
    """Messages with pushes due before `overdue` still pending, and when (the rescue)."""
    query = (
        sa.select(n.message_id, sa.func.min(n.push_due_at))
        .where(n.push_state == "pending", n.push_due_at < overdue)
        .group_by(n.message_id)
        .limit(1000)
    )
    return [(row[0], row[1]) for row in await conn.execute(query)]


async def pending_emails(conn: AsyncConnection, *, overdue: datetime) -> list[uuid.UUID]:
    query = (
        sa.select(n.user_id)
        .where(n.email_state == "pending", n.email_due_at < overdue)
        .group_by(n.user_id)
        .limit(1000)
    )
    return list((await conn.execute(query)).scalars())


async def prune(conn: AsyncConnection, *, before: datetime) -> int:
    result = await conn.execute(sa.delete(notifications).where(n.created_at < before))
    return result.rowcount or 0


# The emails due for one person, locked while the digest is made (a second email job for the
# same person skips them), with what the email shows and what drops an item. Those due within
# `window` seconds come along, so a burst of messages makes one email, not one each.
_DUE_EMAILS = sa.text(
    """
    SELECT n.id, n.message_id, n.channel_id, m.text, m.html, m.created_at,
           m.deleted_at IS NOT NULL AS deleted,
           coalesce(cm.last_read_id >= n.message_id, false) AS read,
           c.name AS channel_name, c.type AS channel_type,
           coalesce(nullif(au.display_name, ''), au.username) AS author_name
    FROM nchat_notifications n
    JOIN nchat_messages m ON m.id = n.message_id
    JOIN nchat_channels c ON c.id = n.channel_id
    JOIN nchat_users au ON au.id = m.user_id
    LEFT JOIN nchat_channel_members cm ON cm.channel_id = n.channel_id AND cm.user_id = n.user_id
    WHERE n.user_id = :user_id AND n.email_state = 'pending'
      AND n.email_due_at <= now() + make_interval(secs => :window)
    ORDER BY n.message_id
    LIMIT 200
    FOR UPDATE OF n SKIP LOCKED
    """
)


async def due_emails(
    conn: AsyncConnection, user_id: uuid.UUID, *, window_s: float
) -> list[RowMapping]:
    params = {"user_id": user_id, "window": window_s}
    return list((await conn.execute(_DUE_EMAILS, params)).mappings())


async def end_emails(conn: AsyncConnection, states: dict[int, str]) -> None:
    for state in set(states.values()):
        ids = [key for key, value in states.items() if value == state]
        await conn.execute(sa.update(notifications).where(n.id.in_(ids)).values(email_state=state))


async def next_email_due(conn: AsyncConnection, user_id: uuid.UUID) -> datetime | None:
    due: datetime | None = await conn.scalar(
        sa.select(sa.func.min(n.email_due_at)).where(
            n.user_id == user_id, n.email_state == "pending"
        )
    )
    return due


async def dm_names(
    conn: AsyncConnection, channel_ids: Sequence[uuid.UUID], viewer: uuid.UUID
) -> dict[uuid.UUID, str]:
    """A DM's name as its member sees it: the other members' names."""
    rows = await conn.execute(
        sa.text(
            """
            SELECT cm.channel_id,
                   string_agg(coalesce(nullif(u.display_name, ''), u.username), ', '
                              ORDER BY u.username) AS names
            FROM nchat_channel_members cm JOIN nchat_users u ON u.id = cm.user_id
            WHERE cm.channel_id = ANY(:ids) AND cm.user_id <> :viewer
            GROUP BY cm.channel_id
            """
        ),
        {"ids": list(channel_ids), "viewer": viewer},
    )
    return {row.channel_id: row.names for row in rows}


async def message_brief(conn: AsyncConnection, message_id: uuid.UUID) -> RowMapping | None:
    """What a push says about a message, as it reads now (None once deleted)."""
    query = sa.text(
        """
        SELECT m.id, m.channel_id, m.thread_id, m.text, c.name AS channel_name,
               c.type AS channel_type,
               coalesce(nullif(u.display_name, ''), u.username) AS author_name
        FROM nchat_messages m
        JOIN nchat_channels c ON c.id = m.channel_id
        JOIN nchat_users u ON u.id = m.user_id
        WHERE m.id = :id AND m.deleted_at IS NULL
        """
    )
    return (await conn.execute(query, {"id": message_id})).mappings().first()


async def stop_emails(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    """Turn email off for a person; False when there is no such person (any more)."""
    result = await conn.execute(
        sa.text(
            """
            INSERT INTO nchat_notification_settings (user_id, email)
            SELECT id, false FROM nchat_users WHERE id = :user_id
            ON CONFLICT (user_id) DO UPDATE SET email = false, updated_at = now()
            """
        ),
        {"user_id": user_id},
    )
    return bool(result.rowcount)
