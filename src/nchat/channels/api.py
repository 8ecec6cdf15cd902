from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from nchat import appstate
from nchat.auth.deps import CurrentUser
from nchat.channels import service
from nchat.channels.listing import LIST_COPIES
from nchat.channels.schemas import (
    ChannelCreate,
    ChannelList,
    ChannelOut,
    ChannelPatch,
    ChannelQuery,
    DirectCreate,
    MemberList,
    MemberQuery,
    MemberRoleSet,
    MembersAdd,
)
from nchat.db.transaction import Conn
from nchat.fast_json import json_response

router = APIRouter(prefix="/api/channels", tags=["channels"])


@router.get("", response_model=ChannelList)
async def list_channels(
    request: Request, principal: CurrentUser, conn: Conn, query: Annotated[ChannelQuery, Query()]
) -> Response:
    copies = appstate.of(request, LIST_COPIES)
    return json_response(await service.list_channel_fields(conn, query, principal, copies=copies))


@router.post("", status_code=201)
async def create_channel(body: ChannelCreate, principal: CurrentUser, conn: Conn) -> ChannelOut:
    channel_id = await service.do_create_channel(conn, body, principal)
    return await service.channel_out(conn, channel_id, principal)


@router.post("/direct")
async def open_direct(
    body: DirectCreate, principal: CurrentUser, conn: Conn, response: Response
) -> ChannelOut:
    channel_id, created = await service.do_open_dm(conn, body.user_ids, principal)
    response.status_code = 201 if created else 200
    return await service.channel_out(conn, channel_id, principal)


@router.get("/{channel_id}")
async def get_channel(channel_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> ChannelOut:
    await service.get_access(conn, channel_id, principal)
    return await service.channel_out(conn, channel_id, principal)


@router.patch("/{channel_id}")
async def update_channel(
    channel_id: uuid.UUID, body: ChannelPatch, principal: CurrentUser, conn: Conn
) -> ChannelOut:
    await service.do_update_channel(conn, channel_id, body, principal)
    return await service.channel_out(conn, channel_id, principal)


@router.delete("/{channel_id}")
async def archive_channel(channel_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> ChannelOut:
    await service.do_archive(conn, channel_id, principal)
    return await service.channel_out(conn, channel_id, principal)


@router.post("/{channel_id}/join")
async def join(channel_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> ChannelOut:
    await service.do_join(conn, channel_id, principal)
    return await service.channel_out(conn, channel_id, principal)


@router.post("/{channel_id}/leave", status_code=204)
async def leave(channel_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> Response:
    await service.do_leave(conn, channel_id, principal)
    return Response(status_code=204)


@router.get("/{channel_id}/members")
async def members(
    channel_id: uuid.UUID,
    principal: CurrentUser,
    conn: Conn,
    query: Annotated[MemberQuery, Query()],
) -> MemberList:
    return await service.list_members(
        conn, channel_id, principal, after=query.cursor, limit=query.limit
    )


@router.post("/{channel_id}/members")
async def add_members(
    channel_id: uuid.UUID, body: MembersAdd, principal: CurrentUser, conn: Conn
) -> MemberList:
    await service.do_add_members(conn, channel_id, body.user_ids, principal)
    return await service.list_members(conn, channel_id, principal, after=None, limit=1000)


@router.put("/{channel_id}/members/{user_id}", status_code=204)
async def set_member_role(
    channel_id: uuid.UUID,
    user_id: uuid.UUID,
    body: MemberRoleSet,
    principal: CurrentUser,
    conn: Conn,
) -> Response:
    await service.do_set_member_role(conn, channel_id, user_id, body.role, principal)
    return Response(status_code=204)


@router.delete("/{channel_id}/members/{user_id}", status_code=204)
async def remove_member(
    channel_id: uuid.UUID, user_id: uuid.UUID, principal: CurrentUser, conn: Conn
) -> Response:
    await service.do_remove_member(conn, channel_id, user_id, principal)
    return Response(status_code=204)
