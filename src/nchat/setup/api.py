from __future__ import annotations

from fastapi import APIRouter, Request

from nchat.accounts.schemas import TokenOut
from nchat.auth.deps import AppSettings, client_ip
from nchat.db.transaction import Conn
from nchat.setup import service
from nchat.setup.schemas import SetupIn, SetupStatus

router = APIRouter(prefix="/api/setup", tags=["setup"])


@router.get("/status")
async def status(conn: Conn) -> SetupStatus:
    return SetupStatus(completed=await service.is_completed(conn))


@router.post("", status_code=201)
async def setup(body: SetupIn, request: Request, conn: Conn, settings: AppSettings) -> TokenOut:
    return await service.do_setup(
        conn,
        body,
        settings=settings,
        user_agent=request.headers.get("user-agent"),
        ip=client_ip(request),
    )
