from __future__ import annotations

import functools
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from nchat import appstate
from nchat.admin_users import service
from nchat.admin_users.schemas import (
    AdminUserList,
    AdminUserOut,
    AdminUserQuery,
    PasswordResetComplete,
    ResetPasswordIn,
    ResetPasswordOut,
    RoleChange,
    SessionsRevoked,
    StatsOut,
)
from nchat.auth.deps import AppSettings, CurrentUser, StreamingUser, client_ip
from nchat.db.transaction import Conn, app_transaction
from nchat.realtime.hub import HUB

router = APIRouter(prefix="/api/admin", tags=["admin"])
auth_router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.get("/users")
async def list_users(
    principal: CurrentUser, conn: Conn, query: Annotated[AdminUserQuery, Query()]
) -> AdminUserList:
    return await service.list_users(conn, query, principal)


@router.get("/users/{user_id}")
async def get_user(user_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> AdminUserOut:
    return await service.get_user(conn, user_id, principal)


@router.post("/users/{user_id}/deactivate")
async def deactivate(
    user_id: uuid.UUID, request: Request, principal: CurrentUser, conn: Conn
) -> AdminUserOut:
    """Every session of the user ends, and their live streams close on every node."""
    return await service.do_set_active(
        conn, user_id, principal, active=False, ip=client_ip(request)
    )


@router.post("/users/{user_id}/reactivate")
async def reactivate(
    user_id: uuid.UUID, request: Request, principal: CurrentUser, conn: Conn
) -> AdminUserOut:
    return await service.do_set_active(conn, user_id, principal, active=True, ip=client_ip(request))


@router.post("/users/{user_id}/role")
async def set_role(
    user_id: uuid.UUID, body: RoleChange, request: Request, principal: CurrentUser, conn: Conn
) -> AdminUserOut:
    return await service.do_set_role(
        conn, user_id, principal, role=body.role, ip=client_ip(request)
    )


@router.post("/users/{user_id}/revoke-sessions")
async def revoke_sessions(
    user_id: uuid.UUID, request: Request, principal: CurrentUser, conn: Conn
) -> SessionsRevoked:
    ended = await service.do_revoke_sessions(conn, user_id, principal, ip=client_ip(request))
    return SessionsRevoked(sessions_ended=ended)


@router.post("/users/{user_id}/reset-password")
async def reset_password(
    user_id: uuid.UUID,
    request: Request,
    principal: StreamingUser,
    settings: AppSettings,
    *,
    body: ResetPasswordIn | None = None,
) -> ResetPasswordOut:
    """By email when the server can send mail (a link that works once, for an hour), else
    a temporary password returned here once; `method` chooses. The email is sent after
    commit: 503 `mail_failed` when it did not leave (ask again for a new link)."""
    return await service.do_reset_password(
        functools.partial(app_transaction, request.app),
        user_id,
        principal,
        method=body.method if body is not None else None,
        settings=settings,
        ip=client_ip(request),
    )


@router.delete("/users/{user_id}", status_code=204)
async def delete_user(
    user_id: uuid.UUID,
    request: Request,
    principal: CurrentUser,
    conn: Conn,
    anonymise: Annotated[bool, Query()] = False,
) -> Response:
    await service.do_delete_user(
        conn, user_id, principal, anonymise=anonymise, ip=client_ip(request)
    )
    return Response(status_code=204)


@router.get("/stats")
async def stats(request: Request, principal: CurrentUser, conn: Conn) -> StatsOut:
    this_process = len(appstate.of(request, HUB).subscribers())
    return await service.stats(conn, principal, this_process=this_process)


@auth_router.post("/password-reset", status_code=204)
async def complete_password_reset(
    body: PasswordResetComplete, request: Request, conn: Conn, settings: AppSettings
) -> Response:
    """Set a new password with the token of a reset email; every session of the user
    ends. An unknown, used or expired token is 400 `invalid_reset_token`."""
    await service.do_complete_password_reset(
        conn,
        token=body.token,
        new_password=body.new_password,
        settings=settings,
        ip=client_ip(request),
    )
    return Response(status_code=204)
