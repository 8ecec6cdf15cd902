"""The zip of one person's data: JSON files and their uploads' bytes, written a page at a
time into a temporary file (in memory while small, on disk past that) and then streamed to
the store. Memory holds one page of rows or one chunk of a file at a time, whatever the
person wrote."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import IO, Any

import anyio
import orjson
import structlog
from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.exports import repository as repo
from nchat.storage import Storage
from nchat.storage.base import CHUNK_BYTES

PAGE = 500
# The temporary file stays in memory up to this size, then moves to disk.
SPOOL_BYTES = 8 * 1024 * 1024
CONTENT_TYPE = "application/zip"
# Columns of the user row that are credentials, not data about the person.
SECRET_COLUMNS = frozenset({"password_hash"})
logger = structlog.get_logger("nchat.exports")

Connect = Callable[[], AbstractAsyncContextManager[AsyncConnection]]
Page = Callable[[AsyncConnection, uuid.UUID, Any, int], Awaitable[list[RowMapping]]]

README = """\
Your data on this nchat server
==============================

Exported {when} for {username} (user id {user_id}).

profile.json                 your account as the server keeps it (without your password's hash)
messages.json                every message you wrote, in every channel, thread and direct
                             conversation, deleted ones included, with each edit's earlier text
reactions.json               the reactions you added to messages
files.json                   the files you uploaded; their contents are under files/<id>/
channels.json                the channels and conversations you are a member of
sessions.json                your sign-in sessions (device, address, when used), the addresses
                             you signed in from (kept open to you when others fail to sign in
                             as you), and the devices registered for push notifications
                             (without tokens or keys)
notification_settings.json   your notification settings, overall and per channel

Messages other people wrote are not included: they are their data. Times are UTC (ISO 8601).
"""


def key_of(export_id: uuid.UUID) -> str:
    return f"exports/{export_id}.zip"


def _json(value: Any) -> bytes:
    # Row keys are str subclasses, which orjson takes only with OPT_NON_STR_KEYS.
    options = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS
    return orjson.dumps(value, default=_default, option=options)


def _default(value: object) -> str:
    # asyncpg's own UUID type is a subclass, which orjson does not take for a uuid.UUID.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class Zip:
    """A zip written entry by entry; each write runs in a worker thread (compression and
    disk writes would hold the event loop)."""

    def __init__(self, target: IO[bytes]) -> None:
        self._zip = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED)
        self._entry: IO[bytes] | None = None

    async def open(self, name: str, *, compress: bool = True) -> IO[bytes]:
        info = zipfile.ZipInfo(name, date_time=datetime.now(UTC).timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        entry = await anyio.to_thread.run_sync(lambda: self._zip.open(info, "w", force_zip64=True))
        self._entry = entry
        return entry

    async def write(self, handle: IO[bytes], data: bytes) -> None:
        await anyio.to_thread.run_sync(handle.write, data)

    async def close_entry(self, handle: IO[bytes]) -> None:
        await anyio.to_thread.run_sync(handle.close)
        self._entry = None

    async def whole(self, name: str, data: bytes) -> None:
        handle = await self.open(name)
        await self.write(handle, data)
        await self.close_entry(handle)

    async def close(self) -> None:
        await anyio.to_thread.run_sync(self._zip.close)

    def abandon(self) -> None:
        """After a failure: close what is open while the target still is, so nothing
        writes to it later (a ZipFile left open closes itself when collected)."""
        with contextlib.suppress(Exception):
            if self._entry is not None:
                self._entry.close()
        with contextlib.suppress(Exception):
            self._zip.close()


async def _array(
    out: Zip,
    name: str,
    pages: AsyncIterator[list[dict[str, Any]]],
) -> None:
    """A JSON array, one element a line, written as its pages come."""
    handle = await out.open(name)
    first = True
    await out.write(handle, b"[")
    async for items in pages:
        if not items:
            continue
        lines = b",\n".join(_json(item) for item in items)
        await out.write(handle, (b"\n" if first else b",\n") + lines)
        first = False
    await out.write(handle, b"\n]\n" if not first else b"]\n")
    await out.close_entry(handle)


async def _pages(
    connect: Connect, page: Page, user_id: uuid.UUID, next_after: Callable[[RowMapping], Any]
) -> AsyncIterator[list[RowMapping]]:
    """Every row `page` reads, a page a transaction: no snapshot held for the whole build."""
    after: Any = None
    while True:
        async with connect() as conn:
            rows = await page(conn, user_id, after, PAGE)
        if rows:
            yield rows
        if len(rows) < PAGE:
            return
        after = next_after(rows[-1])


def _by_id(row: RowMapping) -> Any:
    return row["id"]


async def _messages(connect: Connect, user_id: uuid.UUID) -> AsyncIterator[list[dict[str, Any]]]:
    async for rows in _pages(connect, repo.messages_page, user_id, _by_id):
        async with connect() as conn:
            edits = await repo.edits_of(conn, [row["id"] for row in rows])
        yield [
            {
                "id": row["id"],
                "channel": {
                    "id": row["channel_id"],
                    "name": row["channel_name"],
                    "type": row["channel_type"],
                },
                "thread_id": row["thread_id"],
                "text": row["text"],
                "files": [
                    {"id": f.get("id"), "name": f.get("name"), "size": f.get("size")}
                    for f in row["files"]
                ],
                "created_at": row["created_at"],
                "edited_at": row["edited_at"],
                "deleted_at": row["deleted_at"],
                "edits": edits.get(row["id"], []),
            }
            for row in rows
        ]


async def _reactions(connect: Connect, user_id: uuid.UUID) -> AsyncIterator[list[dict[str, Any]]]:
    def after(row: RowMapping) -> tuple[Any, str]:
        return (row["message_id"], row["emoji"])

    async for rows in _pages(connect, repo.reactions_page, user_id, after):
        yield [dict(row) for row in rows]


async def _plain(
    connect: Connect, page: Page, user_id: uuid.UUID, key: str
) -> AsyncIterator[list[dict[str, Any]]]:
    async for rows in _pages(connect, page, user_id, lambda row: row[key]):
        yield [dict(row) for row in rows]


def file_entry(row: RowMapping) -> str:
    # Names were cleaned at upload (no separators, no leading dots): safe as a path part.
    return f"files/{row['id']}/{row['name']}"


async def _file_bytes(
    out: Zip, connect: Connect, storage: Storage, user_id: uuid.UUID
) -> set[uuid.UUID]:
    """Each upload's bytes into the zip, a chunk at a time; the ids of those the store has
    lost (their records say so)."""
    lost: set[uuid.UUID] = set()
    async for rows in _pages(connect, repo.files_page, user_id, _by_id):
        for row in rows:
            if not await _copy(out, storage, str(row["id"]), file_entry(row)):
                lost.add(row["id"])
    return lost


async def _file_records(
    connect: Connect, user_id: uuid.UUID, lost: set[uuid.UUID]
) -> AsyncIterator[list[dict[str, Any]]]:
    async for rows in _pages(connect, repo.files_page, user_id, _by_id):
        yield [
            {**dict(row), "path": None if row["id"] in lost else file_entry(row)} for row in rows
        ]


async def _copy(out: Zip, storage: Storage, key: str, path: str) -> bool:
    handle = await out.open(path, compress=False)
    try:
        async for chunk in storage.read(key):
            await out.write(handle, chunk)
    except (FileNotFoundError, ClientError, BotoCoreError) as exc:
        # Lost from the store (`nchat storage check` lists it): the record says so.
        logger.warning("export: file object missing", key=key, error=str(exc))
        await out.close_entry(handle)
        return False
    await out.close_entry(handle)
    return True


async def write_zip(out: Zip, connect: Connect, storage: Storage, user: RowMapping) -> None:
    user_id: uuid.UUID = user["id"]
    profile = {k: v for k, v in user.items() if k not in SECRET_COLUMNS}
    await out.whole("profile.json", _json(profile))
    await _array(out, "messages.json", _messages(connect, user_id))
    await _array(out, "reactions.json", _reactions(connect, user_id))
    lost = await _file_bytes(out, connect, storage, user_id)
    await _array(out, "files.json", _file_records(connect, user_id, lost))
    await _array(
        out, "channels.json", _plain(connect, repo.memberships_page, user_id, "channel_id")
    )
    async with connect() as conn:
        devices = [dict(d) for d in await repo.push_devices_of(conn, user_id)]
        settings = await repo.notification_settings_of(conn, user_id)
        addresses = [dict(a) for a in await repo.sign_in_addresses_of(conn, user_id)]
    sessions = [rows async for rows in _plain(connect, repo.sessions_page, user_id, "id")]
    await out.whole(
        "sessions.json",
        _json(
            {
                "sessions": [s for rows in sessions for s in rows],
                "push_devices": devices,
                "sign_in_addresses": addresses,
            }
        ),
    )
    channel_settings = [
        rows async for rows in _plain(connect, repo.channel_settings_page, user_id, "channel_id")
    ]
    overall = {k: v for k, v in dict(settings).items() if k != "user_id"} if settings else None
    await out.whole(
        "notification_settings.json",
        _json(
            {
                # None: the defaults (mentions, full text, email on, no quiet hours).
                "settings": overall,
                "channels": [c for rows in channel_settings for c in rows],
            }
        ),
    )
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = README.format(when=when, username=user["username"], user_id=user_id)
    await out.whole("README.txt", text.encode())


async def build(
    connect: Connect, storage: Storage, export_id: uuid.UUID, user: RowMapping
) -> tuple[str, int]:
    """Write the zip and store it; its key and size."""
    key = key_of(export_id)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        out = Zip(spool)
        try:
            await write_zip(out, connect, storage, user)
        except BaseException:
            out.abandon()
            raise
        await out.close()
        await anyio.to_thread.run_sync(spool.seek, 0)
        size = await storage.write(key, _chunks(spool), CONTENT_TYPE)
    return key, size


async def _chunks(source: IO[bytes]) -> AsyncIterator[bytes]:
    while chunk := await anyio.to_thread.run_sync(source.read, CHUNK_BYTES):
        yield chunk
