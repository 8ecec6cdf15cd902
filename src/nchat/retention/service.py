"""Retention policies (the workspace's, a channel's in its place) and the run that deletes
what is past them: for good, in short batches, with no event per message (decision 0055).
The job, `nchat retention run` and the dry run share `run` and `dry_run`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.admin.service import audit
from nchat.auth import rbac
from nchat.auth.deps import Principal
from nchat.channels.service import channel_not_found
from nchat.retention import repository as repo
from nchat.retention.repository import Counts
from nchat.retention.schemas import (
    ChannelCounts,
    ChannelPolicyOut,
    GlobalPolicyOut,
    Policy,
    RunCounts,
)

PERMISSION = "retention:manage"
# Messages per transaction: each batch holds its rows' locks for a few milliseconds.
BATCH = 500
MAX_LISTED = 200
# A batch that lost a deadlock to a user's delete of the same thread is tried again.
DEADLOCK = "40P01"
ATTEMPTS = 3
KEEP_FOREVER = Policy(message_days=None, include_pinned=False)

Transaction = Callable[[], AbstractAsyncContextManager[AsyncConnection]]
logger = structlog.get_logger("nchat.retention")


def _policy(row: RowMapping | None) -> dict[str, Any] | None:
    """A stored policy as the audit log records it."""
    if row is None:
        return None
    return {"message_days": row["message_days"], "include_pinned": row["include_pinned"]}


def _out(row: RowMapping | None) -> GlobalPolicyOut:
    if row is None:
        return GlobalPolicyOut(message_days=None, include_pinned=False)
    return GlobalPolicyOut(
        message_days=row["message_days"],
        include_pinned=row["include_pinned"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
    )


# -- the workspace's policy --------------------------------------------------


async def get_global(conn: AsyncConnection, principal: Principal) -> GlobalPolicyOut:
    rbac.check_permission(principal.role, PERMISSION)
    return _out(await repo.get_global(conn))


async def do_put_global(
    conn: AsyncConnection, body: Policy, principal: Principal, *, ip: str | None
) -> GlobalPolicyOut:
    rbac.check_permission(principal.role, PERMISSION)
    before = await repo.lock_global(conn)
    row = await repo.put_global(conn, {**body.model_dump(), "updated_by": principal.id})
    await audit(
        conn,
        "retention.updated",
        actor_id=principal.id,
        target_type="workspace",
        ip=ip,
        details={"before": _policy(before), "after": _policy(row)},
    )
    return _out(row)


# -- a channel's own ---------------------------------------------------------


async def _channel_out(
    conn: AsyncConnection, channel_id: uuid.UUID, own: RowMapping | None
) -> ChannelPolicyOut:
    if own is not None:
        return ChannelPolicyOut(
            channel_id=channel_id, override=_out(own), effective=_out(own), source="channel"
        )
    workspace = _out(await repo.get_global(conn))
    return ChannelPolicyOut(
        channel_id=channel_id,
        override=None,
        effective=Policy(
            message_days=workspace.message_days, include_pinned=workspace.include_pinned
        ),
        source="workspace",
    )


async def _check_channel(
    conn: AsyncConnection, channel_id: uuid.UUID, principal: Principal
) -> None:
    # Admins set policies for channels they do not belong to, private ones and DMs included.
    rbac.check_permission(principal.role, PERMISSION)
    if not await repo.channel_exists(conn, channel_id):
        raise channel_not_found()


async def get_channel(
    conn: AsyncConnection, channel_id: uuid.UUID, principal: Principal
) -> ChannelPolicyOut:
    await _check_channel(conn, channel_id, principal)
    return await _channel_out(conn, channel_id, await repo.get_channel(conn, channel_id))


async def _audit_channel(
    conn: AsyncConnection,
    action: str,
    channel_id: uuid.UUID,
    principal: Principal,
    *,
    ip: str | None,
    before: RowMapping | None,
    after: RowMapping | None,
) -> None:
    await audit(
        conn,
        action,
        actor_id=principal.id,
        target_type="channel",
        target_id=str(channel_id),
        ip=ip,
        details={"before": _policy(before), "after": _policy(after)},
    )


async def do_put_channel(
    conn: AsyncConnection,
    channel_id: uuid.UUID,
    body: Policy,
    principal: Principal,
    *,
    ip: str | None,
) -> ChannelPolicyOut:
    await _check_channel(conn, channel_id, principal)
    before = await repo.get_channel(conn, channel_id, lock=True)
    row = await repo.put_channel(
        conn, channel_id, {**body.model_dump(), "updated_by": principal.id}
    )
    await _audit_channel(
        conn, "retention.channel_updated", channel_id, principal, ip=ip, before=before, after=row
    )
    return await _channel_out(conn, channel_id, row)


async def do_delete_channel(
    conn: AsyncConnection, channel_id: uuid.UUID, principal: Principal, *, ip: str | None
) -> ChannelPolicyOut:
    """The channel follows the workspace's policy again."""
    await _check_channel(conn, channel_id, principal)
    before = await repo.delete_channel(conn, channel_id)
    if before is not None:
        await _audit_channel(
            conn,
            "retention.channel_removed",
            channel_id,
            principal,
            ip=ip,
            before=before,
            after=None,
        )
    return await _channel_out(conn, channel_id, None)


# -- runs --------------------------------------------------------------------


async def _counts_out(conn: AsyncConnection, counts: Counts, *, dry_run: bool) -> RunCounts:
    ranked = sorted(counts.messages, key=lambda c: (-counts.messages[c], str(c)))
    listed = ranked[:MAX_LISTED]
    policies = await repo.effective_for(conn, listed)
    channels = [
        ChannelCounts(
            channel_id=channel_id,
            name=policies[channel_id]["name"] if channel_id in policies else None,
            message_days=policies[channel_id]["days"] if channel_id in policies else None,
            include_pinned=(
                policies[channel_id]["include_pinned"] if channel_id in policies else False
            ),
            messages=counts.messages[channel_id],
            files=counts.files[channel_id],
        )
        for channel_id in listed
    ]
    return RunCounts(
        dry_run=dry_run,
        messages=sum(counts.messages.values()),
        files=sum(counts.files.values()),
        channels=channels,
        more_channels=len(ranked) > MAX_LISTED,
    )


async def dry_run(
    conn: AsyncConnection, principal: Principal | None, *, now: datetime | None = None
) -> RunCounts:
    """What a run would delete now. `principal` None: an operator's command."""
    if principal is not None:
        rbac.check_permission(principal.role, PERMISSION)
    counts = await repo.count_past(conn, now or datetime.now(UTC))
    return await _counts_out(conn, counts, dry_run=True)


async def run(
    transaction: Transaction, *, now: datetime | None = None, batch: int = BATCH
) -> RunCounts:
    """Delete every message past its limit, `batch` at a time, each batch its own short
    transaction. A message that comes past its limit while a run goes waits for the next."""
    at = now or datetime.now(UTC)
    total = Counts()
    after: uuid.UUID | None = None
    while True:
        done = await _batch(transaction, at, after=after, limit=batch)
        if done.last_id is None:
            break
        total.add(done.counts)
        after = done.last_id
    async with transaction() as conn:
        out = await _counts_out(conn, total, dry_run=False)
        if out.messages or out.files:
            await audit(
                conn,
                "retention.run",
                actor_id=None,
                target_type="workspace",
                details={"messages": out.messages, "files": out.files},
            )
    logger.info("retention run", messages=out.messages, files=out.files)
    return out


async def _batch(
    transaction: Transaction, now: datetime, *, after: uuid.UUID | None, limit: int
) -> repo.Batch:
    for attempt in range(ATTEMPTS):
        try:
            async with transaction() as conn:
                return await repo.delete_batch(conn, now, after=after, limit=limit)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != DEADLOCK or attempt == ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")
