"""`/api/admin/retention` and `/api/admin/channels/{id}/retention`: message retention
policies, and what a run would delete now."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from nchat.auth.deps import CurrentUser, client_ip
from nchat.db.transaction import Conn
from nchat.retention import service
from nchat.retention.schemas import ChannelPolicyOut, GlobalPolicyOut, Policy, RunCounts

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/retention")
async def get_global(principal: CurrentUser, conn: Conn) -> GlobalPolicyOut:
    return await service.get_global(conn, principal)


@router.put("/retention")
async def put_global(
    body: Policy, request: Request, principal: CurrentUser, conn: Conn
) -> GlobalPolicyOut:
    return await service.do_put_global(conn, body, principal, ip=client_ip(request))


@router.post("/retention/dry-run")
async def dry_run(principal: CurrentUser, conn: Conn) -> RunCounts:
    return await service.dry_run(conn, principal)


@router.get("/channels/{channel_id}/retention")
async def get_channel(
    channel_id: uuid.UUID, principal: CurrentUser, conn: Conn
) -> ChannelPolicyOut:
    return await service.get_channel(conn, channel_id, principal)


@router.put("/channels/{channel_id}/retention")
async def put_channel(
    channel_id: uuid.UUID, body: Policy, request: Request, principal: CurrentUser, conn: Conn
) -> ChannelPolicyOut:
    return await service.do_put_channel(conn, channel_id, body, principal, ip=client_ip(request))


@router.delete("/channels/{channel_id}/retention")
async def delete_channel(
    channel_id: uuid.UUID, request: Request, principal: CurrentUser, conn: Conn
) -> ChannelPolicyOut:
    return await service.do_delete_channel(conn, channel_id, principal, ip=client_ip(request))
