"""Maintenance mode: who may change it, and the change with its event and audit entry.

While it is on, writes are refused (middleware.py) with `UnderMaintenance`; what the
processes know of it comes from the row, through view.py."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.admin.service import audit
from nchat.auth import rbac
from nchat.errors import ServiceUnavailable
from nchat.maintenance import repository
from nchat.maintenance.events import MAINTENANCE_ENDED, MAINTENANCE_STARTED, MAINTENANCE_UPDATED
from nchat.maintenance.repository import Maintenance
from nchat.maintenance.schemas import MaintenanceData, MaintenanceOut
from nchat.realtime import log

PERMISSION = "maintenance:manage"


class UnderMaintenance(ServiceUnavailable):
    code = "maintenance"

    def __init__(self, state: Maintenance) -> None:
        super().__init__(
            state.message,
            details={
                "retry_after_s": state.retry_after_s,
                "since": state.started_at.isoformat(),
                "allow_admins": state.allow_admins,
            },
            headers={"Retry-After": str(state.retry_after_s)},
        )


def may_manage(role: str) -> bool:
    """Who may change maintenance mode, and (when it allows admins) write while it is on."""
    return rbac.has_permission(role, PERMISSION)


def check_manage(role: str) -> None:
    rbac.check_permission(role, PERMISSION)


def to_out(state: Maintenance | None) -> MaintenanceOut:
    if state is None:
        return MaintenanceOut(enabled=False)
    return MaintenanceOut(
        enabled=True,
        message=state.message,
        allow_admins=state.allow_admins,
        retry_after_s=state.retry_after_s,
        started_by=str(state.started_by) if state.started_by else None,
        started_at=state.started_at,
        updated_at=state.updated_at,
    )


def to_data(state: Maintenance | None) -> MaintenanceData:
    if state is None:
        return MaintenanceData(enabled=False)
    return MaintenanceData(
        enabled=True,
        message=state.message,
        allow_admins=state.allow_admins,
        retry_after_s=state.retry_after_s,
        started_at=state.started_at,
    )


async def current(conn: AsyncConnection) -> Maintenance | None:
    return await repository.current(conn)


async def do_enable(
    conn: AsyncConnection,
    *,
    actor_id: uuid.UUID | None,
    message: str,
    allow_admins: bool,
    retry_after_s: int,
    via: str,
    ip: str | None = None,
) -> Maintenance:
    """On (or new terms while on); every socket hears of it, the audit log keeps both sides."""
    await repository.lock(conn)
    before = await repository.current(conn)
    after = await repository.put(
        conn,
        message=message,
        allow_admins=allow_admins,
        retry_after_s=retry_after_s,
        started_by=actor_id,
    )
    kind = MAINTENANCE_STARTED if before is None else MAINTENANCE_UPDATED
    await log.emit(conn, kind, to_data(after), channel_id=None, actor_id=actor_id)
    await _audit(
        conn,
        "maintenance.enabled" if before is None else "maintenance.updated",
        actor_id=actor_id,
        before=before,
        after=after,
        via=via,
        ip=ip,
    )
    return after


async def do_disable(
    conn: AsyncConnection, *, actor_id: uuid.UUID | None, via: str, ip: str | None = None
) -> Maintenance | None:
    """Off; the state it ended, None when it was off already (then nothing is recorded)."""
    await repository.lock(conn)
    before = await repository.clear(conn)
    if before is not None:
        await log.emit(conn, MAINTENANCE_ENDED, to_data(None), channel_id=None, actor_id=actor_id)
        await _audit(
            conn,
            "maintenance.disabled",
            actor_id=actor_id,
            before=before,
            after=None,
            via=via,
            ip=ip,
        )
    return before


async def _audit(
    conn: AsyncConnection,
    action: str,
    *,
    actor_id: uuid.UUID | None,
    before: Maintenance | None,
    after: Maintenance | None,
    via: str,
    ip: str | None,
) -> None:
    details: dict[str, Any] = {
        "before": to_out(before).model_dump(mode="json"),
        "after": to_out(after).model_dump(mode="json"),
        "via": via,
    }
    await audit(conn, action, actor_id=actor_id, target_type="maintenance", ip=ip, details=details)
