from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import quote

import anyio
import structlog
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse
from starlette.requests import ClientDisconnect

from nchat import appstate
from nchat.auth.deps import CurrentUser, StreamingUser
from nchat.config import SETTINGS
from nchat.db.transaction import Conn, app_transaction
from nchat.errors import BadRequest
from nchat.files import avatars, service
from nchat.files.ranges import single_range
from nchat.files.schemas import ChannelFileList, ChannelFilesQuery, FileOut
from nchat.files.service import Served
from nchat.storage import STORAGE, Storage
from nchat.users import service as users
from nchat.users.schemas import UserOut

router = APIRouter(prefix="/api", tags=["files"])
logger = structlog.get_logger("nchat.files")

UPLOAD_PATH = "/api/files"
AVATAR_PATH = "/api/users/me/avatar"
# The body limit of the avatar route: the picture and multipart's own bytes around it.
AVATAR_BODY_BYTES = avatars.MAX_BYTES + service.MULTIPART_SLACK
# No file can run script on nchat's origin, even opened directly: no script, no plugins, a
# sandboxed document; images and media may still show (GitHub serves raw files the same way).
FILE_POLICY = (
    "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; "
    "sandbox; frame-ancestors 'none'"
)
# A file never changes once written: a client may keep it, for itself only.
CACHE = "private, max-age=31536000, immutable"
# An avatar's URL changes with the picture and needs no token: any cache may keep it.
AVATAR_CACHE = "public, max-age=31536000, immutable"


# The body is read as a stream, not by FastAPI: its schema is given here for the document.
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@router.post("/files", status_code=201, openapi_extra=_UPLOAD_BODY)
async def upload(request: Request, principal: StreamingUser) -> FileOut:
    """multipart/form-data with the file in a part named `file`: streamed to the store as it
    arrives. Its type is taken from its bytes; its name is for display only."""
    declared = request.headers.get("content-length", "")
    try:
        return await service.do_upload(
            functools.partial(app_transaction, request.app),
            principal,
            request.stream(),
            content_type=request.headers.get("content-type", ""),
            declared_length=int(declared) if declared.isdigit() else None,
            storage=appstate.of(request, STORAGE),
            max_pixels=appstate.of(request, SETTINGS).image_max_pixels,
        )
    except ClientDisconnect:
        # Nobody is left to answer; what was written is gone already (service.do_upload).
        raise BadRequest("The upload was interrupted", code="upload_interrupted") from None


@router.get("/files/{file_id}", response_class=Response)
async def download(
    file_id: uuid.UUID, request: Request, principal: CurrentUser, conn: Conn
) -> Response:
    """The file: streamed with Range support from the local store, or a redirect to a
    presigned URL valid for minutes from an S3 store."""
    row = await service.readable(conn, file_id, principal)
    return await _respond(request, await service.download(_storage(request), row, None))


@router.get("/files/{file_id}/thumbnail", response_class=Response)
async def thumbnail(
    file_id: uuid.UUID, request: Request, principal: CurrentUser, conn: Conn
) -> Response:
    row = await service.readable(conn, file_id, principal)
    return await _respond(request, await service.download(_storage(request), row, "thumbnail"))


@router.get("/files/{file_id}/preview", response_class=Response)
async def preview(
    file_id: uuid.UUID, request: Request, principal: CurrentUser, conn: Conn
) -> Response:
    row = await service.readable(conn, file_id, principal)
    return await _respond(request, await service.download(_storage(request), row, "preview"))


@router.get("/channels/{channel_id}/files")
async def channel_files(
    channel_id: uuid.UUID,
    principal: CurrentUser,
    conn: Conn,
    query: Annotated[ChannelFilesQuery, Query()],
) -> ChannelFileList:
    """The channel's files on messages not deleted, newest first."""
    return await service.channel_files(conn, channel_id, principal, query)


@router.put(
    "/users/me/avatar",
    tags=["users"],
    openapi_extra=_UPLOAD_BODY,
    responses={415: {"description": "Not a PNG, JPEG, GIF or WebP image"}},
)
async def upload_avatar(request: Request, principal: StreamingUser) -> UserOut:
    """The caller's new avatar: multipart/form-data with the picture in a part named
    `file`. PNG, JPEG, GIF or WebP by its bytes (else 415 `unsupported_image_type`), at most
    5 MB (413 `file_too_large`) and the server's image pixel limit (422 `image_too_large`).
    Kept as a 256x256 WebP of its centred square; `avatar_url` becomes its URL, a new one
    for each picture, and everyone hears `user.updated`."""
    declared = request.headers.get("content-length", "")
    try:
        row = await avatars.do_upload(
            functools.partial(app_transaction, request.app),
            principal,
            request.stream(),
            content_type=request.headers.get("content-type", ""),
            declared_length=int(declared) if declared.isdigit() else None,
            storage=_storage(request),
            max_pixels=appstate.of(request, SETTINGS).image_max_pixels,
        )
    except ClientDisconnect:
        raise BadRequest("The upload was interrupted", code="upload_interrupted") from None
    return users.to_out(row, viewer=principal)


@router.delete("/users/me/avatar", tags=["users"])
async def remove_avatar(principal: CurrentUser, conn: Conn) -> UserOut:
    """No avatar any more (initials again); the uploaded picture leaves the store."""
    row = await users.do_set_avatar(conn, principal, None)
    return users.to_out(row, viewer=principal)


@router.get(
    "/users/{user_id}/avatar/{version}",
    response_class=Response,
    tags=["users"],
    responses={
        200: {"content": {"image/webp": {}}, "description": "The picture"},
        304: {"description": "Not modified (If-None-Match)"},
    },
)
async def avatar(user_id: uuid.UUID, version: str, request: Request, conn: Conn) -> Response:
    """The user's avatar as `avatar_url` names it (image/webp). No token: pages load it as
    a plain image, and its URL cannot be guessed. Any other version is 404."""
    try:
        wanted = uuid.UUID(version)
    except ValueError:
        raise users.avatar_not_found() from None
    if str(wanted) != version:
        raise users.avatar_not_found()
    key = await users.get_avatar(conn, user_id, wanted)
    headers = {"etag": f'"{version}"', "cache-control": AVATAR_CACHE}
    if request.headers.get("if-none-match") == headers["etag"]:
        return Response(status_code=304, headers=headers)
    data = await avatars.read(_storage(request), key)
    return Response(data, media_type=avatars.CONTENT_TYPE, headers=headers)


def _storage(request: Request) -> Storage:
    return appstate.of(request, STORAGE)


async def _respond(request: Request, served: Served) -> Response:
    if served.via.url is not None:
        return RedirectResponse(
            served.via.url, status_code=302, headers={"cache-control": "no-store"}
        )
    disposition = "inline" if served.inline else "attachment"
    headers = {
        "etag": served.etag,
        "cache-control": CACHE,
        "content-security-policy": FILE_POLICY,
    }
    if request.headers.get("if-none-match") == served.etag:
        return Response(status_code=304, headers=headers)
    if served.via.local_path is not None:
        if not await anyio.Path(served.via.local_path).is_file():
            # Lost from the store (`nchat storage check` lists it): not the client's fault,
            # and not something it can have.
            logger.warning("file object missing", key=served.key)
            raise service.file_not_found()
        return FileResponse(
            served.via.local_path,
            media_type=served.content_type,
            filename=served.name,
            content_disposition_type=disposition,
            headers=headers,
        )
    return await _proxied(request, served, disposition, headers)


async def _proxied(
    request: Request, served: Served, disposition: str, headers: dict[str, str]
) -> Response:
    """Streamed from a remote store through the server (NCHAT_S3_PROXY_DOWNLOADS)."""
    storage = _storage(request)
    size = served.size
    if size is None:
        stored = await storage.stat(served.key)
        size = stored.size if stored is not None else 0
    headers["content-disposition"] = f"{disposition}; filename*=UTF-8''{quote(served.name)}"
    headers["accept-ranges"] = "bytes"
    try:
        wanted = single_range(request.headers.get("range"), size)
    except ValueError:
        return Response(status_code=416, headers={"content-range": f"bytes */{size}"})
    start, end = wanted if wanted is not None else (0, size)
    headers["content-length"] = str(end - start)
    status = 200
    if wanted is not None:
        status = 206
        headers["content-range"] = f"bytes {start}-{end - 1}/{size}"
    body: AsyncIterator[bytes] = storage.read(served.key, start, end)
    return StreamingResponse(
        body, status_code=status, media_type=served.content_type, headers=headers
    )
