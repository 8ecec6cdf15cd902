"""Data exports (decision 0056): who may ask for one and see it, one in the making per
person, at most one an hour, and a zip that can be downloaded once.

An export exists for two people only: the person whose data it holds, and the admin who
asked for it. For anyone else it does not exist (404), as for a private channel."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.admin.service import audit
from nchat.auth import rbac
from nchat.auth.deps import Principal
from nchat.db.ids import uuid7
from nchat.errors import Conflict, NchatError, NotFound, TooManyRequests
from nchat.exports import repository as repo
from nchat.exports.schemas import ExportOut
from nchat.users import repository as users_repo
from nchat.users import service as users_service

# One export per person an hour: building one reads everything they ever wrote.
INTERVAL = timedelta(hours=1)
# A zip not downloaded is removed after a week.
KEEP = timedelta(days=7)
# A download holds its export this long at most: one whose server died mid-way frees it then.
DOWNLOAD_LEASE = timedelta(hours=1)


class ExportGone(NchatError):
    status_code = 410
    code = "export_gone"
    message = "This export was downloaded already or has expired"


def export_not_found() -> NotFound:
    return NotFound("No such export", code="export_not_found")


def to_out(row: RowMapping) -> ExportOut:
    ready = row["status"] == "ready"
    return ExportOut(
        id=row["id"],
        user_id=row["user_id"],
        status=row["status"],
        size=row["size"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        expires_at=row["expires_at"],
        downloaded_at=row["downloaded_at"],
        download_url=f"/api/exports/{row['id']}/download" if ready else None,
    )


async def check_subject(conn: AsyncConnection, user_id: uuid.UUID, actor: Principal) -> RowMapping:
    """The person an admin asks to export: one they manage (an admin cannot export an
    owner's data), deleted or not: a request may come after the account was closed."""
    rbac.check_permission(actor.role, "user:export")
    row = await users_repo.get_by_id(conn, user_id)
    if row is None:
        raise NotFound(code="user_not_found", message="No such user")
    users_service.check_manages(actor, row)
    return row


async def do_request(
    conn: AsyncConnection, user_id: uuid.UUID, actor: Principal, *, ip: str, admin: bool
) -> ExportOut:
    """Start an export of `user_id`'s data: the actor's own, or (`admin`) one an admin
    may ask for. Its job is deferred by the caller after commit."""
    if admin:
        await check_subject(conn, user_id, actor)
    if await repo.active_of(conn, user_id) is not None:
        raise _in_progress()
    now = datetime.now(UTC)
    recent = await repo.newest_since(conn, user_id, now - INTERVAL)
    if recent is not None:
        wait = recent["created_at"] + INTERVAL - now
        raise TooManyRequests(
            max(1, math.ceil(wait.total_seconds())),
            "An export of this person was made less than an hour ago",
        )
    row = await repo.insert_export(conn, export_id=uuid7(), user_id=user_id, requested_by=actor.id)
    if row is None:
        raise _in_progress()
    # One zip per person in the store: asking again (at most hourly) replaces the last.
    await repo.supersede_older(conn, user_id, keep=row["id"])
    await audit(
        conn,
        "export.requested",
        actor_id=actor.id,
        target_type="user",
        target_id=str(user_id),
        ip=ip,
        details={"export_id": str(row["id"]), "own": user_id == actor.id},
    )
    return to_out(row)


def _in_progress() -> Conflict:
    return Conflict("An export of this person is being made already", code="export_in_progress")


async def _visible(conn: AsyncConnection, export_id: uuid.UUID, actor: Principal) -> RowMapping:
    row = await repo.get(conn, export_id)
    if row is None or actor.id not in (row["user_id"], row["requested_by"]):
        raise export_not_found()
    if actor.id != row["user_id"]:
        # The admin who asked, only while they may still: demoted, or the person now above
        # them, and the export is not theirs to see any more.
        try:
            await check_subject(conn, row["user_id"], actor)
        except NchatError:
            raise export_not_found() from None
    return row


async def get_export(conn: AsyncConnection, export_id: uuid.UUID, actor: Principal) -> ExportOut:
    return to_out(await _visible(conn, export_id, actor))


@dataclass(frozen=True, slots=True)
class Ready:
    key: str
    size: int
    name: str


async def ready(conn: AsyncConnection, export_id: uuid.UUID, actor: Principal) -> Ready:
    """The zip to send, if the caller may have it and it is still there, held for this
    download: a second one at the same time is refused, so it goes out once."""
    row = await _visible(conn, export_id, actor)
    if row["status"] in ("pending", "running"):
        raise Conflict("The export is not ready yet", code="export_not_ready")
    if row["status"] != "ready" or row["key"] is None:
        raise ExportGone()
    if not await repo.claim_download(conn, export_id, stale=datetime.now(UTC) - DOWNLOAD_LEASE):
        raise Conflict("The export is being downloaded", code="export_downloading")
    return Ready(key=row["key"], size=row["size"] or 0, name=f"nchat-export-{row['id']}.zip")


async def do_release(conn: AsyncConnection, export_id: uuid.UUID) -> None:
    await repo.release_download(conn, export_id)


async def do_mark_downloaded(
    conn: AsyncConnection, export_id: uuid.UUID, actor: Principal, *, ip: str
) -> str | None:
    """After one whole download: the export is done with, its object's key returned for
    removal after commit (None when a download at the same time got there first). The key
    is queued for housekeeping too, in case that removal fails."""
    key = await repo.mark_downloaded(conn, export_id)
    if key is not None:
        await users_repo.queue_object_removal(conn, key)
        row = await repo.get(conn, export_id)
        await audit(
            conn,
            "export.downloaded",
            actor_id=actor.id,
            target_type="user",
            target_id=str(row["user_id"]) if row is not None else None,
            ip=ip,
            details={"export_id": str(export_id)},
        )
    return key
