"""Uploads, downloads and the rules of who may fetch a file.

A file belongs to its uploader until a message carries it; from then on whoever can read
that message can fetch it, and nobody else (404, as for messages: rule 3). A soft-deleted
message hides its files like its text; a hard-deleted one takes them with it (the rows go,
the objects are queued for removal by the same transaction: tables/files.py)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import unicodedata
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, TypeVar

import anyio
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.admin.service import get_config
from nchat.auth.deps import Principal
from nchat.channels import service as channels
from nchat.db.ids import uuid7
from nchat.errors import Forbidden, NchatError, NotFound
from nchat.files import images, sniff
from nchat.files import repository as repo
from nchat.files.multipart import FilePart, boundary_of
from nchat.files.schemas import ChannelFile, ChannelFileList, ChannelFilesQuery, FileOut
from nchat.storage import LocalStorage, Storage, StorageUnavailable
from nchat.storage.base import Download

MAX_NAME = 255
# Multipart's own bytes around the file (boundaries, part headers), allowed beyond the limit
# when judging a declared Content-Length.
MULTIPART_SLACK = 16 * 1024
# Images above this many bytes are kept without a thumbnail rather than read into memory
# from a remote store.
RENDER_MAX_BYTES = 64 * 1024 * 1024
UNATTACHED_TTL = timedelta(hours=24)
# Thumbnails decoded at once per process: each holds a decoded image and a core. One
# semaphore per event loop (a semaphore belongs to the loop it first waited on).
RENDERING_AT_ONCE = 2
_rendering: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _render_slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _rendering.get(loop)
    if slots is None:
        slots = _rendering[loop] = asyncio.Semaphore(RENDERING_AT_ONCE)
    return slots


Transaction = Callable[[], AbstractAsyncContextManager[AsyncConnection]]
T = TypeVar("T")


class FileTooLarge(NchatError):
    status_code = 413
    code = "file_too_large"
    message = "The file is larger than this server accepts"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(details={"max_bytes": max_bytes})


def file_not_found() -> NotFound:
    return NotFound("No such file", code="file_not_found")


def clean_name(raw: str) -> str:
    """The name to show: NFC, without control characters or path separators, at most 255
    characters (the extension kept). Display only: storage keys never use it."""
    name = unicodedata.normalize("NFC", raw)
    name = "".join(
        "_" if ch in "/\\" else ch
        for ch in name
        if unicodedata.category(ch) not in ("Cc", "Cf", "Cs")
    ).strip()
    name = name.lstrip(".") or "file"
    if len(name) > MAX_NAME:
        _, dot, ext = name.rpartition(".")
        keep = ext if dot and 0 < len(ext) <= 16 else ""
        name = (name[: MAX_NAME - len(keep) - 1] + "." + keep) if keep else name[:MAX_NAME]
    return name


def record(row: RowMapping | dict[str, Any]) -> dict[str, Any]:
    """A file row as FileOut's fields, in its order (messages store this on attach)."""
    file_id = row["id"]
    return {
        "id": file_id,
        "name": row["name"],
        "size": row["size"],
        "content_type": row["content_type"],
        "sha256": row["sha256"],
        "width": row["width"],
        "height": row["height"],
        "url": f"/api/files/{file_id}",
        "thumbnail_url": f"/api/files/{file_id}/thumbnail" if row["thumbnail"] else None,
        "preview_url": f"/api/files/{file_id}/preview" if row["preview"] else None,
        "created_at": row["created_at"],
    }


class _Meter:
    """Counts, hashes and keeps the first bytes of an upload as it passes to the store."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.head = bytearray()

    async def through(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            self.size += len(chunk)
            if self.size > self.limit:
                raise FileTooLarge(self.limit)
            self.sha256.update(chunk)
            if len(self.head) < sniff.HEAD_BYTES:
                self.head += chunk[: sniff.HEAD_BYTES - len(self.head)]
            yield chunk


async def upload_limit(conn: AsyncConnection) -> int:
    """The largest upload the app config allows; 403 when uploads are switched off."""
    config = await get_config(conn)
    if not config["features"].get("file_uploads", True):
        raise Forbidden("File uploads are switched off on this server", code="uploads_disabled")
    return int(config["files"]["max_upload_bytes"])


async def do_upload(
    transaction: Transaction,
    principal: Principal,
    body: AsyncIterator[bytes],
    *,
    content_type: str,
    declared_length: int | None,
    storage: Storage,
    max_pixels: int,
) -> FileOut:
    """Stream the upload's file part to the store, then record it. No connection is held
    while the bytes flow: a slow upload must not take one from everyone else."""
    async with transaction() as conn:
        limit = await upload_limit(conn)
    if declared_length is not None and declared_length > limit + MULTIPART_SLACK:
        raise FileTooLarge(limit)
    part = FilePart(body, boundary_of(content_type))
    name = clean_name(await part.name())
    file_id = uuid7()
    key = str(file_id)
    meter = _Meter(limit)
    written = [key]
    try:
        await _write(storage, key, meter.through(part.chunks()))
        kind = sniff.content_type(bytes(meter.head))
        rendered = await _render(storage, key, kind, meter.size, max_pixels)
        if rendered is not None:
            for variant, data in (("thumbnail", rendered.thumbnail), ("preview", rendered.preview)):
                written.append(f"{key}.{variant}")
                await _write(storage, f"{key}.{variant}", _once(data))
        async with transaction() as conn:
            row = await repo.insert(
                conn,
                {
                    "id": file_id,
                    "uploader_id": principal.id,
                    "name": name,
                    "size": meter.size,
                    "content_type": kind,
                    "sha256": meter.sha256.hexdigest(),
                    "width": rendered.width if rendered else None,
                    "height": rendered.height if rendered else None,
                    "thumbnail": rendered is not None,
                    "preview": rendered is not None,
                    "created_at": datetime.now(UTC),
                },
            )
    except BaseException:
        await discard(storage, written)
        raise
    return FileOut.model_validate(record(row))


async def _write(storage: Storage, key: str, chunks: AsyncIterator[bytes]) -> None:
    try:
        await storage.write(key, chunks, sniff.OCTET_STREAM)
    except (BotoCoreError, ClientError) as exc:
        raise StorageUnavailable(details={"backend": storage.name}) from exc


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def write_bytes(storage: Storage, key: str, data: bytes) -> None:
    """Store a small object made here (an avatar, say); 503 when the store cannot."""
    await _write(storage, key, _once(data))


async def read_part(body: AsyncIterator[bytes], *, content_type: str, limit: int) -> bytes:
    """A small upload's file part (multipart/form-data, named `file`, as for POST
    /api/files), read whole into memory: at most `limit` bytes, else 413."""
    part = FilePart(body, boundary_of(content_type))
    await part.name()
    meter = _Meter(limit)
    return b"".join([chunk async for chunk in meter.through(part.chunks())])


async def in_render_slot(convert: Callable[[BinaryIO], T], data: bytes) -> T:
    """A blocking Pillow function of images.py run on `data` in a worker thread, within
    this process's slots for decoding images (those of thumbnails too)."""
    async with _render_slots():
        return await anyio.to_thread.run_sync(convert, io.BytesIO(data))


async def discard(storage: Storage, keys: list[str]) -> None:
    """Remove what an upload that failed had written; what cannot be removed now is left
    for `nchat storage check` to list (it has no row)."""
    for key in keys:
        try:
            await asyncio.shield(storage.delete(key))
        except (BotoCoreError, ClientError, OSError, asyncio.CancelledError):
            continue


async def _render(
    storage: Storage, key: str, kind: str, size: int, max_pixels: int
) -> images.Rendered | None:
    if kind not in images.IMAGE_TYPES or size > RENDER_MAX_BYTES:
        return None
    async with _render_slots():
        source = await _source(storage, key)
        try:
            return await anyio.to_thread.run_sync(images.render, source, max_pixels)
        finally:
            source.close()


async def _source(storage: Storage, key: str) -> BinaryIO:
    if isinstance(storage, LocalStorage):
        return await anyio.to_thread.run_sync(open, storage.path(key), "rb")
    buffer = io.BytesIO()
    async for chunk in storage.read(key):
        buffer.write(chunk)
    buffer.seek(0)
    return buffer


async def readable(conn: AsyncConnection, file_id: uuid.UUID, principal: Principal) -> RowMapping:
    """The file, if the caller may fetch it: their own upload not yet attached, or one on a
    message they can read. Anything else does not exist for them."""
    row = await repo.get(conn, file_id)
    if row is None:
        raise file_not_found()
    if row["message_id"] is None:
        if row["uploader_id"] != principal.id:
            raise file_not_found()
        return row
    if row["message_deleted_at"] is not None:
        raise file_not_found()
    try:
        await channels.get_access(conn, row["channel_id"], principal)
    except NotFound:
        raise file_not_found() from None
    return row


@dataclass(frozen=True, slots=True)
class Served:
    """One object as a response sends it."""

    key: str
    content_type: str
    name: str
    size: int | None  # known for originals; a variant's is the store's
    etag: str
    inline: bool
    via: Download


async def download(storage: Storage, row: RowMapping, variant: str | None) -> Served:
    """How to send the file, or its thumbnail or preview."""
    file_id = row["id"]
    if variant is None:
        key, kind, name, size = str(file_id), row["content_type"], row["name"], row["size"]
    else:
        if not row[variant]:
            raise NotFound(f"The file has no {variant}", code=f"{variant}_not_found")
        key, kind, name, size = f"{file_id}.{variant}", "image/webp", f"{row['name']}.webp", None
    shown = sniff.inline(kind)
    try:
        via = await storage.download(key, name=name, content_type=kind, attachment=not shown)
    except (BotoCoreError, ClientError) as exc:
        raise StorageUnavailable(details={"backend": storage.name}) from exc
    etag = f'"{row["sha256"]}"' if variant is None else f'"{row["sha256"]}-{variant}"'
    return Served(key, kind, name, size, etag, shown, via)


async def channel_files(
    conn: AsyncConnection, channel_id: uuid.UUID, principal: Principal, query: ChannelFilesQuery
) -> ChannelFileList:
    await channels.get_access(conn, channel_id, principal)
    rows = await repo.of_channel(conn, channel_id, query.before, query.limit + 1)
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    listed = [
        ChannelFile.model_validate(
            {**record(r), "message_id": r["message_id"], "uploader_id": r["uploader_id"]}
        )
        for r in rows
    ]
    return ChannelFileList(files=listed, next_cursor=str(rows[-1]["id"]) if more else None)


def attach_missing() -> NotFound:
    return NotFound(
        "A file to attach does not exist, is someone else's, or is attached already",
        code="file_not_found",
    )


async def reserve(
    conn: AsyncConnection, file_ids: list[uuid.UUID], principal: Principal
) -> list[dict[str, Any]]:
    """The records of files a message is about to carry, in the order given, locked until
    the sending transaction ends: the caller's uploads that no message carries yet. Any
    other id is a 404 (someone else's file is not theirs to share, and may not be theirs
    to see)."""
    unique = list(dict.fromkeys(file_ids))
    rows = await repo.lock_unattached(conn, unique, principal.id)
    if len(rows) != len(unique):
        raise attach_missing()
    by_id = {row["id"]: row for row in rows}
    return [FileOut.model_validate(record(by_id[i])).model_dump(mode="json") for i in unique]


async def attach(
    conn: AsyncConnection,
    records: list[dict[str, Any]],
    message_id: uuid.UUID,
    channel_id: uuid.UUID,
) -> None:
    """Attach reserved files to the message just written with them."""
    await repo.attach(conn, [uuid.UUID(r["id"]) for r in records], message_id, channel_id)


async def sweep(conn: AsyncConnection, *, now: datetime, limit: int = 500) -> int:
    """Drop uploads never attached within a day (their objects join the queue)."""
    return await repo.delete_unattached(conn, now - UNATTACHED_TTL, limit)


async def remove_queued(transaction: Transaction, storage: Storage, *, limit: int = 500) -> int:
    """Remove queued objects from the store; each leaves the queue once removed."""
    async with transaction() as conn:
        keys = await repo.queued_deletions(conn, limit)
        removed = []
        for key in keys:
            try:
                await storage.delete(key)
            except (BotoCoreError, ClientError, OSError):
                continue  # tried again on the next round
            removed.append(key)
        if removed:
            await repo.forget_deletions(conn, removed)
    return len(removed)
