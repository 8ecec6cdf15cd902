"""All SQL of data exports: the export rows, and the pages of a person's data a zip is
built from (each read by keyset, a bounded page at a time)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.tables.auth import login_addresses, sessions
from nchat.tables.channels import channel_members, channels
from nchat.tables.exports import ACTIVE, exports
from nchat.tables.files import files
from nchat.tables.messages import message_edits, messages, reactions
from nchat.tables.notifications import (
    channel_notification_settings,
    notification_settings,
    push_devices,
)
from nchat.tables.users import users

x = exports.c
_ACTIVE_WHERE = sa.text("status IN ('pending', 'running')")


async def insert_export(
    conn: AsyncConnection, *, export_id: uuid.UUID, user_id: uuid.UUID, requested_by: uuid.UUID
) -> RowMapping | None:
    """The new export, or None when one is in the making for the person already (the
    unique index decides, so two requests at once cannot both start one)."""
    query = (
        insert(exports)
        .values(id=export_id, user_id=user_id, requested_by=requested_by, status="pending")
        .on_conflict_do_nothing(index_elements=["user_id"], index_where=_ACTIVE_WHERE)
        .returning(exports)
    )
    row: RowMapping | None = (await conn.execute(query)).mappings().first()
    return row


async def get(conn: AsyncConnection, export_id: uuid.UUID) -> RowMapping | None:
    return (await conn.execute(sa.select(exports).where(x.id == export_id))).mappings().first()


async def active_of(conn: AsyncConnection, user_id: uuid.UUID) -> RowMapping | None:
    query = sa.select(exports).where(x.user_id == user_id, x.status.in_(ACTIVE))
    return (await conn.execute(query)).mappings().first()


async def newest_since(
    conn: AsyncConnection, user_id: uuid.UUID, since: datetime
) -> RowMapping | None:
    """The person's newest export asked for after `since` that did not fail."""
    query = (
        sa.select(exports)
        .where(x.user_id == user_id, x.created_at > since, x.status != "failed")
        .order_by(x.created_at.desc())
        .limit(1)
    )
    return (await conn.execute(query)).mappings().first()


async def claim(conn: AsyncConnection, export_id: uuid.UUID) -> RowMapping | None:
    """pending -> running; None when another run took it (or it is no longer pending)."""
    query = (
        sa.update(exports)
        .where(x.id == export_id, x.status == "pending")
        .values(status="running", started_at=sa.func.now())
        .returning(exports)
    )
    row: RowMapping | None = (await conn.execute(query)).mappings().first()
    return row


async def finish(
    conn: AsyncConnection, export_id: uuid.UUID, *, key: str, size: int, expires_at: datetime
) -> bool:
    query = (
        sa.update(exports)
        .where(x.id == export_id, x.status == "running")
        .values(
            status="ready", key=key, size=size, finished_at=sa.func.now(), expires_at=expires_at
        )
    )
    return (await conn.execute(query)).rowcount == 1


async def fail(conn: AsyncConnection, export_id: uuid.UUID, error: str) -> None:
    await conn.execute(
        sa.update(exports)
        .where(x.id == export_id, x.status.in_(ACTIVE))
        .values(status="failed", error=error[:500], finished_at=sa.func.now())
    )


async def claim_download(conn: AsyncConnection, export_id: uuid.UUID, *, stale: datetime) -> bool:
    """Take the ready export for one download; False while another holds it (one that
    started before `stale` is taken as dead: its server went away mid-way)."""
    claimed = await conn.execute(
        sa.update(exports)
        .where(
            x.id == export_id,
            x.status == "ready",
            sa.or_(x.download_started_at.is_(None), x.download_started_at < stale),
        )
        .values(download_started_at=sa.func.now())
        .returning(x.id)
    )
    return claimed.first() is not None


async def release_download(conn: AsyncConnection, export_id: uuid.UUID) -> None:
    """A download cut short: the export is there for the next try."""
    await conn.execute(
        sa.update(exports)
        .where(x.id == export_id, x.status == "ready")
        .values(download_started_at=None)
    )


async def mark_downloaded(conn: AsyncConnection, export_id: uuid.UUID) -> str | None:
    """ready -> downloaded, the key no longer named; the key, or None when it was not ready
    (a download at the same time finished first: the row lock orders the two)."""
    query = sa.select(x.key, x.status).where(x.id == export_id).with_for_update()
    row = (await conn.execute(query)).first()
    if row is None or row.status != "ready":
        return None
    await conn.execute(
        sa.update(exports)
        .where(x.id == export_id)
        .values(status="downloaded", downloaded_at=sa.func.now(), key=None)
    )
    key: str | None = row.key
    return key


async def expired(conn: AsyncConnection, now: datetime, limit: int) -> list[RowMapping]:
    """Ready exports past their expiry, locked (skipping those another sweep holds)."""
    query = (
        sa.select(exports)
        .where(x.status == "ready", x.expires_at <= now)
        .order_by(x.created_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await conn.execute(query)).mappings())


async def supersede_older(
    conn: AsyncConnection, user_id: uuid.UUID, *, keep: uuid.UUID | None = None
) -> None:
    """The person's ready exports (but `keep`) expire now and the sweep removes their zips:
    a newer one replaces them, or the person was erased."""
    query = sa.update(exports).where(x.user_id == user_id, x.status == "ready")
    if keep is not None:
        query = query.where(x.id != keep)
    await conn.execute(query.values(expires_at=sa.func.now()))


async def mark_expired(conn: AsyncConnection, export_id: uuid.UUID) -> None:
    await conn.execute(
        sa.update(exports).where(x.id == export_id).values(status="expired", key=None)
    )


async def stale(conn: AsyncConnection, before: datetime, limit: int) -> list[uuid.UUID]:
    """Exports in the making since before `before`: a worker that stopped half way."""
    query = (
        sa.select(x.id)
        .where(x.status.in_(ACTIVE), x.created_at < before)
        .order_by(x.created_at)
        .limit(limit)
    )
    return list((await conn.execute(query)).scalars())


async def waiting(conn: AsyncConnection, before: datetime, limit: int) -> list[uuid.UUID]:
    """Pending exports asked for before `before`: their job may never have been deferred."""
    query = (
        sa.select(x.id)
        .where(x.status == "pending", x.created_at < before)
        .order_by(x.created_at)
        .limit(limit)
    )
    return list((await conn.execute(query)).scalars())


# The person's data, read a page at a time.


async def user_row(conn: AsyncConnection, user_id: uuid.UUID) -> RowMapping | None:
    return (await conn.execute(sa.select(users).where(users.c.id == user_id))).mappings().first()


async def messages_page(
    conn: AsyncConnection, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[RowMapping]:
    m, c = messages.c, channels.c
    query = (
        sa.select(
            m.id,
            m.channel_id,
            c.name.label("channel_name"),
            c.type.label("channel_type"),
            m.thread_id,
            m.text,
            m.files,
            m.created_at,
            m.edited_at,
            m.deleted_at,
        )
        .join(channels, c.id == m.channel_id)
        .where(m.user_id == user_id)
        .order_by(m.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(m.id > after)
    return list((await conn.execute(query)).mappings())


async def edits_of(
    conn: AsyncConnection, message_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[dict[str, Any]]]:
    """Each message's earlier texts, oldest first."""
    e = message_edits.c
    query = (
        sa.select(e.message_id, e.text, e.edited_at)
        .where(e.message_id.in_(message_ids))
        .order_by(e.message_id, e.id)
    )
    found: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for row in (await conn.execute(query)).mappings():
        found.setdefault(row["message_id"], []).append(
            {"text": row["text"], "replaced_at": row["edited_at"]}
        )
    return found


async def reactions_page(
    conn: AsyncConnection, user_id: uuid.UUID, after: tuple[uuid.UUID, str] | None, limit: int
) -> list[RowMapping]:
    r, m = reactions.c, messages.c
    query = (
        sa.select(r.message_id, r.emoji, r.created_at, m.channel_id)
        .join(messages, m.id == r.message_id)
        .where(r.user_id == user_id)
        .order_by(r.message_id, r.emoji)
        .limit(limit)
    )
    if after is not None:
        query = query.where(sa.tuple_(r.message_id, r.emoji) > sa.tuple_(*after))
    return list((await conn.execute(query)).mappings())


async def files_page(
    conn: AsyncConnection, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[RowMapping]:
    f = files.c
    query = (
        sa.select(
            f.id,
            f.name,
            f.size,
            f.content_type,
            f.sha256,
            f.width,
            f.height,
            f.message_id,
            f.channel_id,
            f.created_at,
        )
        .where(f.uploader_id == user_id)
        .order_by(f.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(f.id > after)
    return list((await conn.execute(query)).mappings())


async def memberships_page(
    conn: AsyncConnection, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[RowMapping]:
    cm, c = channel_members.c, channels.c
    query = (
        sa.select(
            cm.channel_id,
            c.name.label("channel_name"),
            c.type.label("channel_type"),
            cm.role,
            cm.joined_at,
            cm.last_read_id,
            c.archived_at.label("channel_archived_at"),
        )
        .join(channels, c.id == cm.channel_id)
        .where(cm.user_id == user_id)
        .order_by(cm.channel_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(cm.channel_id > after)
    return list((await conn.execute(query)).mappings())


async def sessions_page(
    conn: AsyncConnection, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[RowMapping]:
    s = sessions.c
    # Never the refresh token's hash: it is a credential, not data about the person.
    query = (
        sa.select(
            s.id,
            s.user_agent,
            s.ip,
            s.created_at,
            s.last_used_at,
            s.expires_at,
            s.revoked_at,
            s.revoked_reason,
            s.last_sync_at,
        )
        .where(s.user_id == user_id)
        .order_by(s.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(s.id > after)
    return list((await conn.execute(query)).mappings())


async def push_devices_of(conn: AsyncConnection, user_id: uuid.UUID) -> list[RowMapping]:
    """A person's registered devices (one per device id: few). Without their tokens and
    keys, which are credentials for the push services."""
    d = push_devices.c
    query = (
        sa.select(d.id, d.device_id, d.platform, d.app_id, d.session_id, d.created_at, d.updated_at)
        .where(d.user_id == user_id)
        .order_by(d.id)
    )
    return list((await conn.execute(query)).mappings())


async def sign_in_addresses_of(conn: AsyncConnection, user_id: uuid.UUID) -> list[RowMapping]:
    """The addresses a person's failed sign-ins elsewhere do not lock out (few: forgotten
    NCHAT_LOGIN_KNOWN_ADDRESS_DAYS after their last use)."""
    a = login_addresses.c
    query = (
        sa.select(a.address, a.last_success_at)
        .where(a.user_id == user_id)
        .order_by(a.last_success_at.desc())
    )
    return list((await conn.execute(query)).mappings())


async def notification_settings_of(conn: AsyncConnection, user_id: uuid.UUID) -> RowMapping | None:
    query = sa.select(notification_settings).where(notification_settings.c.user_id == user_id)
    return (await conn.execute(query)).mappings().first()


async def channel_settings_page(
    conn: AsyncConnection, user_id: uuid.UUID, after: uuid.UUID | None, limit: int
) -> list[RowMapping]:
    cs, c = channel_notification_settings.c, channels.c
    query = (
        sa.select(cs.channel_id, c.name.label("channel_name"), cs.level, cs.muted)
        .join(channels, c.id == cs.channel_id)
        .where(cs.user_id == user_id)
        .order_by(cs.channel_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(cs.channel_id > after)
    return list((await conn.execute(query)).mappings())
