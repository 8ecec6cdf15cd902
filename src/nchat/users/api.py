from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from nchat.admin.service import audit
from nchat.auth import rbac
from nchat.auth.deps import AppSettings, CurrentUser, client_ip
from nchat.db.transaction import Conn
from nchat.users import service
from nchat.users.schemas import (
    ListQuery,
    PasswordChange,
    UserCreate,
    UserList,
    UserOut,
    UserUpdate,
)

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("/me")
async def me(principal: CurrentUser) -> UserOut:
    return service.to_out(principal.user, viewer=principal)


@router.post("/me/password", status_code=204)
async def change_password(
    body: PasswordChange,
    request: Request,
    principal: CurrentUser,
    conn: Conn,
    settings: AppSettings,
) -> Response:
    """Change the caller's own password. A wrong `current_password` is 403 `wrong_password`
    and counts as a failed sign-in of the account (429 `rate_limited` once too many); a
    `new_password` shorter than the server's minimum is 422 `password_too_short`. Every
    other session of the caller ends, its live streams closed; this one stays."""
    await service.do_change_password(
        conn,
        principal,
        current_password=body.current_password,
        new_password=body.new_password,
        settings=settings,
        ip=client_ip(request),
    )
    return Response(status_code=204)


@router.get("")
async def list_users(
    principal: CurrentUser, conn: Conn, query: Annotated[ListQuery, Query()]
) -> UserList:
    return await service.list_users(conn, query, principal)


@router.post("", status_code=201)
async def create_user(
    body: UserCreate, principal: CurrentUser, conn: Conn, settings: AppSettings
) -> UserOut:
    rbac.check_permission(principal.role, "user:create")
    if not rbac.can_assign(principal.role, body.role):
        raise rbac.role_not_assignable(body.role)
    row = await service.do_create_user(
        conn,
        email=str(body.email),
        username=body.username,
        password=body.password,
        display_name=body.display_name,
        role=body.role,
        min_password_length=settings.password_min_length,
    )
    await audit(
        conn,
        "user.created",
        actor_id=principal.id,
        target_type="user",
        target_id=str(row["id"]),
        details={"role": body.role},
    )
    return service.to_out(row, viewer=principal)


@router.get("/{user_id}")
async def get_user(user_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> UserOut:
    row = await service.get_visible_user(conn, user_id, principal)
    return service.to_out(row, viewer=principal)


@router.put("/{user_id}")
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, principal: CurrentUser, conn: Conn
) -> UserOut:
    row = await service.do_update_user(conn, user_id, body, principal)
    return service.to_out(row, viewer=principal)


@router.delete("/{user_id}", status_code=204)
async def delete_user(user_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> Response:
    await service.do_delete_user(conn, user_id, principal)
    return Response(status_code=204)
