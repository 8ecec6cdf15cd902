"""`/api/admin/channels`: workspace admins' view of every channel, and their changes to it."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from nchat import appstate
from nchat.admin_channels import service, tasks
from nchat.admin_channels.schemas import (
    AdminChannelList,
    AdminChannelOut,
    AdminChannelQuery,
    ChannelDeletion,
    OwnerSet,
    VisibilitySet,
)
from nchat.auth.deps import CurrentUser, StreamingUser, client_ip
from nchat.db.transaction import Conn, app_transaction

router = APIRouter(prefix="/api/admin/channels", tags=["admin"])


@router.get("")
async def list_channels(
    principal: CurrentUser, conn: Conn, query: Annotated[AdminChannelQuery, Query()]
) -> AdminChannelList:
    return await service.list_channels(conn, query, principal)


@router.post("/{channel_id}/archive")
async def archive(
    channel_id: uuid.UUID, request: Request, principal: CurrentUser, conn: Conn
) -> AdminChannelOut:
    await service.do_set_archived(conn, channel_id, True, principal, ip=client_ip(request))
    return await service.channel_out(conn, channel_id)


@router.post("/{channel_id}/unarchive")
async def unarchive(
    channel_id: uuid.UUID, request: Request, principal: CurrentUser, conn: Conn
) -> AdminChannelOut:
    await service.do_set_archived(conn, channel_id, False, principal, ip=client_ip(request))
    return await service.channel_out(conn, channel_id)


@router.delete("/{channel_id}", status_code=202)
async def delete(
    channel_id: uuid.UUID, request: Request, principal: StreamingUser
) -> ChannelDeletion:
    """Delete for good: at once the channel is gone for everyone (its members are told, live
    or when they resume), then a job removes its messages, files and the rest in batches."""
    async with app_transaction(request.app) as conn:
        deletion = await service.do_delete(conn, channel_id, principal, ip=client_ip(request))
    # After commit, so the job finds the mark (the periodic run catches a lost defer).
    await tasks.defer_purge(appstate.of(request, tasks.JOBS))
    return deletion


@router.post("/{channel_id}/owner")
async def set_owner(
    channel_id: uuid.UUID, body: OwnerSet, request: Request, principal: CurrentUser, conn: Conn
) -> AdminChannelOut:
    await service.do_set_owner(conn, channel_id, body.user_id, principal, ip=client_ip(request))
    return await service.channel_out(conn, channel_id)


@router.post("/{channel_id}/visibility")
async def set_visibility(
    channel_id: uuid.UUID,
    body: VisibilitySet,
    request: Request,
    principal: CurrentUser,
    conn: Conn,
) -> AdminChannelOut:
    ip = client_ip(request)
    await service.do_set_visibility(conn, channel_id, body.private, principal, ip=ip)
    return await service.channel_out(conn, channel_id)
