from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from nchat.auth.deps import AppSettings, CurrentUser
from nchat.db.transaction import Conn
from nchat.limits import AppLimits
from nchat.realtime.events import ChangesOut
from nchat.sync import service
from nchat.sync.schemas import BootstrapOut, ChangesQuery, QueueIn, QueueOut, StatusOut, StatusQuery

router = APIRouter(prefix="/api/sync", tags=["sync"])


@router.post("/queue")
async def queue(body: QueueIn, principal: CurrentUser, conn: Conn, limits: AppLimits) -> QueueOut:
    # The whole call is counted, or refused before any operation is applied. Replayed
    # operations count again: what a call costs is known before anything is read.
    await limits.check(limits.rules.sync_ops, principal, cost=len(body.operations))
    return await service.apply_queue(conn, body.operations, principal)


@router.get("/changes")
async def changes(
    principal: CurrentUser,
    conn: Conn,
    settings: AppSettings,
    query: Annotated[ChangesQuery, Query()],
) -> ChangesOut:
    return await service.changes(
        conn, principal, since=query.since, limit=query.limit, settings=settings
    )


@router.get("/status")
async def status(
    principal: CurrentUser,
    conn: Conn,
    settings: AppSettings,
    query: Annotated[StatusQuery, Query()],
) -> StatusOut:
    return await service.status(conn, principal, since=query.since, settings=settings)


@router.get("/bootstrap")
async def bootstrap(principal: CurrentUser, conn: Conn) -> BootstrapOut:
    return await service.bootstrap(conn, principal)
