"""What `nchat storage check` and `nchat storage migrate` do: compare the file rows (and the
users' uploaded avatars) with a store's objects, and copy a store's objects into another."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.storage import Storage
from nchat.tables.exports import exports
from nchat.tables.files import files
from nchat.tables.users import users
from nchat.users.service import avatar_key, uploaded_avatar

f = files.c
_BATCH = 1000

Progress = Callable[[int], None]


@dataclass
class Report:
    checked: int = 0
    missing: list[str] = field(default_factory=list)  # a row, no object
    wrong_size: list[str] = field(default_factory=list)
    wrong_sha256: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)  # an object, no row

    @property
    def ok(self) -> bool:
        return not (self.missing or self.wrong_size or self.wrong_sha256)


async def expected_objects(
    engine: AsyncEngine,
) -> AsyncIterator[tuple[str, int | None, str | None]]:
    """Every object the rows name: (key, size, sha256), the variants without size or hash."""
    after = None
    while True:
        query = (
            sa.select(f.id, f.size, f.sha256, f.thumbnail, f.preview).order_by(f.id).limit(_BATCH)
        )
        if after is not None:
            query = query.where(f.id > after)
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        if not rows:
            break
        for file_id, size, sha256, thumbnail, preview in rows:
            yield str(file_id), size, sha256
            if thumbnail:
                yield f"{file_id}.thumbnail", None, None
            if preview:
                yield f"{file_id}.preview", None, None
        after = rows[-1][0]
    async for key in _avatars(engine):
        yield key, None, None
    async with engine.connect() as conn:  # a handful at most: one ready zip per person
        ready = await conn.execute(
            sa.select(exports.c.key, exports.c.size).where(
                exports.c.status == "ready", exports.c.key.is_not(None)
            )
        )
        for key, size in ready.all():
            yield key, size, None


async def _avatars(engine: AsyncEngine) -> AsyncIterator[str]:
    """The objects of the avatars users uploaded (their `avatar_url` names them)."""
    after = None
    while True:
        query = (
            sa.select(users.c.id, users.c.avatar_url)
            .where(users.c.avatar_url.startswith("/"))
            .order_by(users.c.id)
            .limit(_BATCH)
        )
        if after is not None:
            query = query.where(users.c.id > after)
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        if not rows:
            return
        for row in rows:
            version = uploaded_avatar(row)
            if version is not None:
                yield avatar_key(version)
        after = rows[-1]["id"]


async def count_files(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(files)) or 0)


async def check(
    engine: AsyncEngine, storage: Storage, *, hashes: bool, progress: Progress
) -> Report:
    """Each row's object exists with the recorded size (and sha256 when `hashes`); objects
    that no row names are listed as orphans."""
    report = Report()
    named: set[str] = set()
    async for key, size, sha256 in expected_objects(engine):
        named.add(key)
        stored = await storage.stat(key)
        if stored is None:
            report.missing.append(key)
        elif size is not None and stored.size != size:
            report.wrong_size.append(key)
        elif hashes and sha256 is not None and await _sha256(storage, key) != sha256:
            report.wrong_sha256.append(key)
        if size is not None:
            report.checked += 1
            progress(1)
    async for stored in storage.objects():
        if stored.key not in named:
            report.orphans.append(stored.key)
    return report


async def _sha256(storage: Storage, key: str) -> str:
    digest = hashlib.sha256()
    async for chunk in storage.read(key):
        digest.update(chunk)
    return digest.hexdigest()


async def copy_all(source: Storage, target: Storage, *, progress: Progress) -> tuple[int, int]:
    """Copy every object the target lacks (or holds at another size); (copied, skipped). An
    interrupted copy is resumed by running it again: objects never change once written."""
    copied = skipped = 0
    async for stored in source.objects():
        there = await target.stat(stored.key)
        if there is not None and there.size == stored.size:
            skipped += 1
        else:
            await target.write(stored.key, source.read(stored.key), "application/octet-stream")
            copied += 1
        progress(stored.size)
    return copied, skipped


async def total_bytes(storage: Storage) -> int:
    return sum([stored.size async for stored in storage.objects()])
