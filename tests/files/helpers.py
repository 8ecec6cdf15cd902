from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.storage import Storage
from tests.fixtures.factories import MadeUser


async def upload(
    client: httpx.AsyncClient,
    user: MadeUser,
    data: bytes,
    name: str = "notes.txt",
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    return await client.post(
        "/api/files", headers=user.headers, files={"file": (name, data, content_type)}
    )


async def uploaded(
    client: httpx.AsyncClient, user: MadeUser, data: bytes, name: str = "a.txt"
) -> dict[str, Any]:
    r = await upload(client, user, data, name)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def storage_of(app: FastAPI) -> Storage:
    store: Storage = app.state.storage
    return store


async def object_keys(app: FastAPI) -> list[str]:
    return [stored.key async for stored in storage_of(app).objects()]


async def file_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.text("SELECT count(*) FROM nchat_files")) or 0)


async def fetch(
    client: httpx.AsyncClient, user: MadeUser, url: str, **headers: str
) -> httpx.Response:
    """GET a file the way a browser would: following a redirect to the store, without the
    API's Authorization header there (a presigned URL needs none)."""
    r = await client.get(url, headers={**user.headers, **headers})
    if r.status_code == 302:
        async with httpx.AsyncClient() as outside:
            return await outside.get(r.headers["location"], headers=headers)
    return r


def png(width: int, height: int, *, exif: Image.Exif | None = None, mode: str = "RGB") -> bytes:
    image = Image.new(mode, (width, height), "red" if mode == "RGB" else None)
    out = io.BytesIO()
    if exif is not None:
        image.save(out, "JPEG", exif=exif)
    else:
        image.save(out, "PNG")
    return out.getvalue()


async def chunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
