"""The one small interface every file store has: objects named by key, written from a
stream, read whole or by byte range, deleted, listed.

Keys come from ids (`files/service.py`), never from file names: no name can reach outside
the store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from nchat.appstate import Key
from nchat.errors import NchatError

# Bytes read from a stream or a store at a time.
CHUNK_BYTES = 256 * 1024


class StorageUnavailable(NchatError):
    status_code = 503
    code = "storage_unavailable"
    message = "The file store is unreachable; retry shortly"


@dataclass(frozen=True, slots=True)
class Stored:
    """An object as the store has it."""

    key: str
    size: int


@dataclass(frozen=True, slots=True)
class Download:
    """How a client gets an object: a URL to fetch it from (S3's presigned), or None when
    the server must stream it (`local_path` for the local store, else `read`)."""

    url: str | None = None
    local_path: Path | None = None


class Storage(Protocol):
    name: str

    async def start(self) -> None:
        """Check the store is reachable with the credentials given; raise if not."""

    async def stop(self) -> None: ...

    async def check(self) -> None:
        """Raise if the store cannot be used right now (readiness checks)."""

    async def write(self, key: str, chunks: AsyncIterator[bytes], content_type: str) -> int:
        """Store the chunks as `key` (replacing nothing half-written: the object appears
        whole or not at all); the number of bytes written."""

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The object's bytes from `start` up to `end` (exclusive; None: the end)."""

    async def stat(self, key: str) -> Stored | None: ...

    async def delete(self, key: str) -> None:
        """Remove the object; a key already gone is not an error."""

    def objects(self) -> AsyncIterator[Stored]:
        """Every object in the store, by key order."""

    async def download(
        self, key: str, *, name: str, content_type: str, attachment: bool
    ) -> Download: ...


STORAGE: Key[Storage] = Key("storage")
