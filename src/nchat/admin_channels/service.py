"""Workspace administration of channels: every channel's metadata (never its messages),
archiving, hard delete, owner and visibility. Each change is audited with what it was
before and after, and told to the members as the channel's own events (decision 0050).

Admins act on channels they do not belong to, private ones and DMs included, so these read
the channel row directly instead of through `service.get_access` (which hides what the
caller is not a member of)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.admin.service import audit
from nchat.admin_channels import repository as arepo
from nchat.admin_channels.schemas import (
    AdminChannelList,
    AdminChannelOut,
    AdminChannelQuery,
    ChannelDeletion,
    PersonBrief,
)
from nchat.auth import rbac
from nchat.auth.deps import Principal
from nchat.channels import repository as repo
from nchat.channels.events import MemberChanged
from nchat.channels.service import (
    DM_TYPES,
    audit_archive,
    channel_info,
    channel_not_found,
    emit_channel,
)
from nchat.errors import Conflict, NotFound
from nchat.realtime import log

# Named channels whose readers a visibility change moves between members and everyone.
CONVERTIBLE = frozenset({"public", "private"})
# Messages per transaction while a deleted channel is emptied: each batch holds its rows'
# locks for a few milliseconds (retention's size).
BATCH = 500
# Deleted channels a purge lists at a time.
PURGE_CHANNELS = 100
# Opens a transaction of its own (committed when the block ends).
Transaction = Callable[[], AbstractAsyncContextManager[AsyncConnection]]
logger = structlog.get_logger("nchat.admin_channels")


# -- reads -------------------------------------------------------------------


async def list_channels(
    conn: AsyncConnection, query: AdminChannelQuery, principal: Principal
) -> AdminChannelList:
    rbac.check_permission(principal.role, "channel:list_any")
    filters = arepo.AdminFilters(
        q=query.q,
        kind=query.kind,
        archived=query.archived,
        after=query.cursor,
        limit=query.limit + 1,
    )
    rows = await arepo.list_all(conn, filters)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    out = await _out(conn, rows)
    return AdminChannelList(
        channels=out, next_cursor=str(rows[-1]["id"]) if more and rows else None
    )


async def channel_out(conn: AsyncConnection, channel_id: uuid.UUID) -> AdminChannelOut:
    row = await arepo.one(conn, channel_id)
    if row is None:
        raise channel_not_found()
    return (await _out(conn, [row]))[0]


async def _out(conn: AsyncConnection, rows: list[RowMapping]) -> list[AdminChannelOut]:
    dm = await repo.dm_members(conn, [r["id"] for r in rows if r["type"] in DM_TYPES])
    return [
        AdminChannelOut(
            id=r["id"],
            name=r["name"],
            type=r["type"],
            private=r["type"] != "public",
            topic=r["topic"],
            read_only=r["read_only"],
            archived=r["archived_at"] is not None,
            archived_at=r["archived_at"],
            member_count=r["member_count"],
            last_message_at=r["last_message_at"],
            owner=(
                PersonBrief(id=r["created_by"], username=r["owner_username"])
                if r["created_by"] is not None and r["owner_username"] is not None
                else None
            ),
            created_at=r["created_at"],
            dm_members=(
                [PersonBrief(id=u["id"], username=u["username"]) for u in dm.get(r["id"], [])]
                if r["type"] in DM_TYPES
                else None
            ),
        )
        for r in rows
    ]


# -- writes ------------------------------------------------------------------


async def _locked(conn: AsyncConnection, channel_id: uuid.UUID) -> RowMapping:
    row = await arepo.lock(conn, channel_id)
    if row is None:
        raise channel_not_found()
    return row


def _not_for_dms(row: RowMapping) -> None:
    if row["type"] in DM_TYPES:
        raise Conflict("Direct messages have no such setting", code="channel_is_dm")


async def _audit(
    conn: AsyncConnection,
    action: str,
    row: RowMapping,
    principal: Principal,
    *,
    ip: str | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await audit(
        conn,
        action,
        actor_id=principal.id,
        target_type="channel",
        target_id=str(row["id"]),
        ip=ip,
        details={"name": row["name"], "type": row["type"], "before": before, "after": after},
    )


async def do_set_archived(
    conn: AsyncConnection,
    channel_id: uuid.UUID,
    archived: bool,
    principal: Principal,
    *,
    ip: str | None,
) -> None:
    rbac.check_permission(principal.role, "channel:archive_any")
    row = await _locked(conn, channel_id)
    if row["type"] in DM_TYPES:
        raise Conflict("Direct messages cannot be archived", code="channel_is_dm")
    if (row["archived_at"] is not None) == archived:
        return  # already so: nothing changes, nothing to tell or record
    await repo.update_channel(conn, row["id"], {"archived_at": sa.func.now() if archived else None})
    # The same events as the channel pages' archive and unarchive.
    kind = "channel.archived" if archived else "channel.updated"
    await emit_channel(conn, kind, row["id"], actor=principal)
    await audit_archive(conn, row, archived=archived, actor=principal, ip=ip)


async def do_delete(
    conn: AsyncConnection, channel_id: uuid.UUID, principal: Principal, *, ip: str | None
) -> ChannelDeletion:
    """Delete the channel for good. Its members learn it first: the channel's
    `channel.deleted` event (its last state), then a `member.left` for each of them,
    addressed to them, which ends the channel's live streams on every node (as a removal does)
    and reaches a member who was offline when they resume. At commit nobody can read or
    write it any more (`arepo.mark_deleted`); its contents are removed after, in batches
    (`purge`, a job the caller defers once this commits), so a large channel is never one
    long transaction."""
    rbac.check_permission(principal.role, "channel:delete_any")
    # Counted before the lock, which sends wait for: a count of a large channel takes a while.
    removed = await arepo.contents(conn, channel_id)
    row = await _locked(conn, channel_id)
    members = await arepo.member_ids(conn, row["id"])
    await log.emit(
        conn, "channel.deleted", channel_info(row), channel_id=row["id"], actor_id=principal.id
    )
    for user_id in members:
        await log.emit(
            conn,
            "member.left",
            MemberChanged(channel_id=row["id"], user_id=user_id),
            channel_id=row["id"],
            actor_id=principal.id,
            target_user_id=user_id,
            # Also the membership change replays read: the member saw channel.deleted.
            subject_user_id=user_id,
        )
    await arepo.mark_deleted(conn, row["id"])
    await _audit(
        conn,
        "channel.deleted",
        row,
        principal,
        ip=ip,
        before={
            "archived": row["archived_at"] is not None,
            "owner_id": str(row["created_by"]) if row["created_by"] else None,
            "members": len(members),
            **removed,
        },
        after=None,
    )
    return ChannelDeletion(id=row["id"], status="deleting")


async def purge(
    transaction: Transaction, *, batch: int | None = None, max_batches: int | None = None
) -> int:
    """Empty every channel marked deleted, `batch` messages a transaction (with everything
    that hangs on them), then remove its row; the number of messages removed. Each batch
    commits on its own, so a run cut short (a crash, `max_batches`) leaves less for the
    next run, which finishes it."""
    size = batch or BATCH
    batches = 0
    removed = 0
    while True:
        async with transaction() as conn:
            pending = await arepo.deleted(conn, PURGE_CHANNELS)
        for channel_id in pending:
            while True:
                if max_batches is not None and batches >= max_batches:
                    return removed
                async with transaction() as conn:
                    done = await arepo.delete_messages(conn, channel_id, limit=size)
                batches += 1
                removed += done
                if done < size:
                    break
            async with transaction() as conn:
                await arepo.remove(conn, channel_id)
            logger.info("deleted channel removed", channel_id=str(channel_id))
        if len(pending) < PURGE_CHANNELS:
            return removed


async def do_set_owner(
    conn: AsyncConnection,
    channel_id: uuid.UUID,
    user_id: uuid.UUID,
    principal: Principal,
    *,
    ip: str | None,
) -> None:
    """Make `user_id` the channel's owner (its `created_by`) and a channel admin, joining
    them if they were not a member; the previous owner stays a member, as a plain one."""
    rbac.check_permission(principal.role, "channel:update_any")
    row = await _locked(conn, channel_id)
    _not_for_dms(row)
    if user_id not in await repo.live_user_ids(conn, [user_id]):
        raise NotFound("No such user", code="user_not_found", details={"user_ids": [str(user_id)]})
    previous = row["created_by"]
    membership = await repo.get_membership(conn, row["id"], user_id)
    if previous == user_id and membership is not None and membership["role"] == "admin":
        return
    if membership is None:
        await repo.add_members(conn, row["id"], [user_id], role="admin")
        joined = await repo.get(conn, row["id"])
        assert joined is not None
        await log.emit(
            conn,
            "member.joined",
            MemberChanged(
                channel_id=row["id"], user_id=user_id, role="admin", channel=channel_info(joined)
            ),
            channel_id=row["id"],
            actor_id=principal.id,
            subject_user_id=user_id,
        )
    elif membership["role"] != "admin":
        await _set_role(conn, row["id"], user_id, "admin", principal)
    if previous is not None and previous != user_id:
        was = await repo.get_membership(conn, row["id"], previous)
        if was is not None and was["role"] == "admin":
            await _set_role(conn, row["id"], previous, "member", principal)
    if previous != user_id:
        await repo.update_channel(conn, row["id"], {"created_by": user_id})
        await emit_channel(conn, "channel.updated", row["id"], actor=principal)
    await _audit(
        conn,
        "channel.owner_changed",
        row,
        principal,
        ip=ip,
        before={"owner_id": str(previous) if previous else None},
        after={"owner_id": str(user_id)},
    )


async def _set_role(
    conn: AsyncConnection,
    channel_id: uuid.UUID,
    user_id: uuid.UUID,
    role: str,
    principal: Principal,
) -> None:
    await repo.set_member_role(conn, channel_id, user_id, role)
    await log.emit(
        conn,
        "member.updated",
        MemberChanged(channel_id=channel_id, user_id=user_id, role=role),
        channel_id=channel_id,
        actor_id=principal.id,
    )


async def do_set_visibility(
    conn: AsyncConnection,
    channel_id: uuid.UUID,
    private: bool,
    principal: Principal,
    *,
    ip: str | None,
) -> None:
    """Public to private or back. Readers are decided on every read (channel pages, history,
    search, files), so a channel made private is hidden from non-members at commit; a
    non-member's live stream of it ends on the `channel.updated` event."""
    rbac.check_permission(principal.role, "channel:update_any")
    row = await _locked(conn, channel_id)
    _not_for_dms(row)
    if row["type"] not in CONVERTIBLE:
        raise Conflict(
            "Only public and private channels change visibility",
            code="channel_type_fixed",
            details={"type": row["type"]},
        )
    wanted = "private" if private else "public"
    if row["type"] == wanted:
        return
    await repo.update_channel(conn, row["id"], {"type": wanted})
    await emit_channel(conn, "channel.updated", row["id"], actor=principal)
    await _audit(
        conn,
        "channel.visibility_changed",
        row,
        principal,
        ip=ip,
        before={"type": row["type"]},
        after={"type": wanted},
    )
