"""GET/PUT/DELETE /api/admin/maintenance: maintenance mode's state, on, off."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from nchat import appstate
from nchat.auth.deps import CurrentUser, Principal, client_ip, principal_briefly
from nchat.db.transaction import Conn, app_transaction
from nchat.maintenance import service
from nchat.maintenance.schemas import MaintenanceIn, MaintenanceOut
from nchat.maintenance.view import MAINTENANCE

router = APIRouter(prefix="/api/admin/maintenance", tags=["admin"])

# The changes open their own transaction, so that this process and then the others hear
# of the change after it committed: the caller is found on a connection of its own.
Caller = Annotated[Principal, Depends(principal_briefly)]


@router.get("")
async def get_maintenance(principal: CurrentUser, conn: Conn) -> MaintenanceOut:
    service.check_manage(principal.role)
    return service.to_out(await service.current(conn))


@router.put("")
async def turn_on(body: MaintenanceIn, principal: Caller, request: Request) -> MaintenanceOut:
    """On (or a new message or terms while on): writes answer 503 `maintenance`."""
    service.check_manage(principal.role)
    async with app_transaction(request.app) as conn:
        state = await service.do_enable(
            conn,
            actor_id=principal.id,
            message=body.message,
            allow_admins=body.allow_admins,
            retry_after_s=body.retry_after_s,
            via="api",
            ip=client_ip(request),
        )
    await appstate.of(request, MAINTENANCE).changed(state)
    return service.to_out(state)


@router.delete("")
async def turn_off(principal: Caller, request: Request) -> MaintenanceOut:
    service.check_manage(principal.role)
    async with app_transaction(request.app) as conn:
        await service.do_disable(conn, actor_id=principal.id, via="api", ip=client_ip(request))
    await appstate.of(request, MAINTENANCE).changed(None)
    return service.to_out(None)
