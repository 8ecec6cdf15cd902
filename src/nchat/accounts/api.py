from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from nchat.accounts import service
from nchat.accounts.schemas import RefreshIn, SessionList, SigninIn, SignupIn, TokenOut
from nchat.auth.deps import AppSettings, CurrentUser, client_ip
from nchat.db.transaction import Conn

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/signup", status_code=201)
async def signup(body: SignupIn, request: Request, conn: Conn, settings: AppSettings) -> TokenOut:
    return await service.do_signup(
        conn,
        body,
        settings=settings,
        user_agent=request.headers.get("user-agent"),
        ip=client_ip(request),
    )


@router.post("/signin")
async def signin(body: SigninIn, request: Request, conn: Conn, settings: AppSettings) -> TokenOut:
    return await service.do_signin(
        conn,
        body,
        settings=settings,
        user_agent=request.headers.get("user-agent"),
        ip=client_ip(request),
    )


@router.post("/refresh")
async def refresh(body: RefreshIn, conn: Conn, settings: AppSettings) -> TokenOut:
    return await service.do_refresh(conn, body.refresh_token, settings=settings)


@router.post("/signout", status_code=204)
async def signout(principal: CurrentUser, conn: Conn) -> Response:
    await service.do_signout(conn, principal)
    return Response(status_code=204)


@router.get("/sessions")
async def sessions(principal: CurrentUser, conn: Conn) -> SessionList:
    return await service.list_sessions(conn, principal)


@router.delete("/sessions/{session_id}", status_code=204)
async def revoke_session(session_id: uuid.UUID, principal: CurrentUser, conn: Conn) -> Response:
    await service.do_revoke_session(conn, session_id, principal)
    return Response(status_code=204)
