"""Files in a directory (`<data dir>/files` by default): zero configuration.

An object is written to a temporary name beside its final one and renamed when whole, so a
reader never sees half a file and an interrupted upload leaves only a `.part` that the
store's listing skips. Objects fan out over 256 directories by the last two characters of
the id, so no directory grows past what file systems list quickly."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from nchat.storage.base import CHUNK_BYTES, Download, Stored

# Keys are ids with an optional variant (`<uuid>`, `<uuid>.thumbnail`), or a data export's
# zip (`exports/<uuid>.zip`): nothing else is a path this store will build.
_KEY = re.compile(
    r"(exports/)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\.[a-z]+)?"
)
# Chunks gathered before one write in the worker thread: fewer thread hops per upload.
_WRITE_BYTES = 1024 * 1024


class LocalStorage:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    async def start(self) -> None:
        await anyio.Path(self.root).mkdir(parents=True, exist_ok=True)
        probe = anyio.Path(self.root / f".probe-{secrets.token_hex(4)}")
        await probe.write_bytes(b"")  # the directory is writable, or this raises now
        await probe.unlink()

    async def stop(self) -> None:
        return None

    async def check(self) -> None:
        if not await anyio.Path(self.root).is_dir():
            raise FileNotFoundError(f"the files directory {self.root} is gone")

    def path(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a storage key: {key!r}")
        return self.root / key.split(".", 1)[0][-2:] / key

    async def write(self, key: str, chunks: AsyncIterator[bytes], content_type: str) -> int:
        final = self.path(key)
        await anyio.Path(final.parent).mkdir(parents=True, exist_ok=True)
        part = final.with_name(f".{final.name}.{secrets.token_hex(4)}.part")
        size = 0
        try:
            async with await anyio.open_file(part, "wb") as out:
                pending: list[bytes] = []
                held = 0
                async for chunk in chunks:
                    pending.append(chunk)
                    held += len(chunk)
                    if held >= _WRITE_BYTES:
                        await out.write(b"".join(pending))
                        size += held
                        pending, held = [], 0
                if pending:
                    await out.write(b"".join(pending))
                    size += held
            await anyio.to_thread.run_sync(os.replace, part, final)
        except BaseException:
            await anyio.Path(part).unlink(missing_ok=True)
            raise
        return size

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        async with await anyio.open_file(self.path(key), "rb") as source:
            await source.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                chunk = await source.read(CHUNK_BYTES if left is None else min(left, CHUNK_BYTES))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    async def stat(self, key: str) -> Stored | None:
        try:
            found = await anyio.Path(self.path(key)).stat()
        except FileNotFoundError:
            return None
        return Stored(key, found.st_size)

    async def delete(self, key: str) -> None:
        await anyio.Path(self.path(key)).unlink(missing_ok=True)

    async def objects(self) -> AsyncIterator[Stored]:
        listed = await anyio.to_thread.run_sync(self._list)
        for stored in listed:
            yield stored

    def _list(self) -> list[Stored]:
        found: list[Stored] = []
        if not self.root.is_dir():
            return found
        for directory in self.root.iterdir():
            if not directory.is_dir():
                continue
            for entry in directory.iterdir():
                if _KEY.fullmatch(entry.name) and entry.is_file():
                    found.append(Stored(entry.name, entry.stat().st_size))
        return sorted(found, key=lambda stored: stored.key)

    async def download(
        self, key: str, *, name: str, content_type: str, attachment: bool
    ) -> Download:
        return Download(local_path=self.path(key))
