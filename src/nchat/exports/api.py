from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from nchat import appstate
from nchat.auth.deps import StreamingUser, client_ip
from nchat.db.transaction import app_transaction
from nchat.exports import service, tasks
from nchat.exports.schemas import ExportOut
from nchat.storage import STORAGE

router = APIRouter(tags=["exports"])

_STARTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "Started: built in the background"},
    409: {"description": "An export of this person is being made already"},
    429: {"description": "One was made less than an hour ago"},
}


@router.post("/api/admin/users/{user_id}/export", status_code=202, responses=_STARTED)
async def export_user(user_id: uuid.UUID, request: Request, principal: StreamingUser) -> ExportOut:
    """Export a person's data (an access request): a zip built in the background, for the
    admin who asked to download once."""
    return await _start(request, user_id, principal, admin=True)


@router.post("/api/users/me/export", status_code=202, responses=_STARTED, tags=["users"])
async def export_me(request: Request, principal: StreamingUser) -> ExportOut:
    """Export the caller's own data: a zip built in the background, to download once."""
    return await _start(request, principal.id, principal, admin=False)


async def _start(
    request: Request, user_id: uuid.UUID, principal: StreamingUser, *, admin: bool
) -> ExportOut:
    async with app_transaction(request.app) as conn:
        started = await service.do_request(
            conn, user_id, principal, ip=client_ip(request), admin=admin
        )
    # After commit, so the job finds the row (the sweep defers it again if this is lost).
    await tasks.defer_build(appstate.of(request, tasks.JOBS), started.id)
    return started


@router.get("/api/exports/{export_id}")
async def get_export(export_id: uuid.UUID, request: Request, principal: StreamingUser) -> ExportOut:
    """The export's status; only the person and the admin who asked see it."""
    async with app_transaction(request.app, autocommit=True) as conn:
        return await service.get_export(conn, export_id, principal)


@router.get(
    "/api/exports/{export_id}/download",
    response_class=Response,
    responses={
        200: {"content": {"application/zip": {}}, "description": "The zip"},
        409: {"description": "Not ready yet"},
        410: {"description": "Downloaded already, or expired"},
    },
)
async def download(export_id: uuid.UUID, request: Request, principal: StreamingUser) -> Response:
    """The zip, streamed from the store. Once: after one whole download it is removed."""
    async with app_transaction(request.app) as conn:
        ready = await service.ready(conn, export_id, principal)
    storage = appstate.of(request, STORAGE)
    if await storage.stat(ready.key) is None:
        await _release(request, export_id)
        raise service.ExportGone()
    ip = client_ip(request)

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in storage.read(ready.key):
                yield chunk
        except BaseException:
            # Cut short (the client left, the store failed): the zip stays for a next try.
            await asyncio.shield(_release(request, export_id))
            raise
        async with app_transaction(request.app) as conn:
            key = await service.do_mark_downloaded(conn, export_id, principal, ip=ip)
        if key is not None:
            await tasks.remove(storage, key)

    headers = {
        "content-length": str(ready.size),
        "content-disposition": f'attachment; filename="{ready.name}"',
        "cache-control": "no-store",
    }
    return StreamingResponse(body(), media_type="application/zip", headers=headers)


async def _release(request: Request, export_id: uuid.UUID) -> None:
    async with app_transaction(request.app) as conn:
        await service.do_release(conn, export_id)
