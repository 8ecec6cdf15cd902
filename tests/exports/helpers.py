"""A person with something of everything to export, and the export's round trip over HTTP."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.factories import MadeUser
from tests.messaging.helpers import Api
from tests.realtime.nodes import eventually

FILE_BYTES = "Grüße, a file of Ada's\n".encode() * 500


@dataclass
class Written:
    """What Ada wrote, by the ids the server gave it."""

    general: dict[str, Any]
    dm: dict[str, Any]
    edited: dict[str, Any]
    bobs_root: dict[str, Any]
    reply: dict[str, Any]
    with_file: dict[str, Any]
    in_dm: dict[str, Any]
    file: dict[str, Any]


async def write_everything(client: httpx.AsyncClient, ada: MadeUser, bob: MadeUser) -> Written:
    api = Api(client)
    general = await api.create_channel(ada, "general", members=(bob,))
    edited = await api.send(ada, general["id"], "first version")
    r = await client.put(
        f"/api/messages/{edited['id']}", headers=ada.headers, json={"text": "second version"}
    )
    assert r.status_code == 200, r.text
    bobs_root = await api.send(bob, general["id"], "bob asks something")
    reply = await api.send(
        ada, general["id"], "ada answers in the thread", thread_id=bobs_root["id"]
    )
    r = await client.post(
        f"/api/messages/{bobs_root['id']}/reactions", headers=ada.headers, json={"emoji": "👍"}
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        "/api/files", headers=ada.headers, files={"file": ("notes.txt", FILE_BYTES, "text/plain")}
    )
    assert r.status_code == 201, r.text
    file = r.json()
    with_file = await api.send(ada, general["id"], "the notes", file_ids=[file["id"]])
    r = await client.post(
        "/api/channels/direct", headers=ada.headers, json={"user_ids": [str(bob.id)]}
    )
    assert r.status_code in (200, 201), r.text
    dm = r.json()
    in_dm = await api.send(ada, dm["id"], "just between us")
    await api.send(bob, dm["id"], "bob's own words stay out")
    return Written(general, dm, edited, bobs_root, reply, with_file, in_dm, file)


async def status(client: httpx.AsyncClient, user: MadeUser, export_id: str) -> httpx.Response:
    return await client.get(f"/api/exports/{export_id}", headers=user.headers)


async def until_done(client: httpx.AsyncClient, user: MadeUser, export_id: str) -> dict[str, Any]:
    """The export once the app's own worker has built it (or failed to)."""
    seen: dict[str, Any] = {}

    async def done() -> bool:
        r = await status(client, user, export_id)
        assert r.status_code == 200, r.text
        seen.update(r.json())
        return seen["status"] not in ("pending", "running")

    await eventually(done, timeout=30, what="the export's job to finish")
    return seen


def read_zip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def load(entries: dict[str, bytes], name: str) -> Any:
    return json.loads(entries[name])


async def secrets_of(engine: AsyncEngine, user: MadeUser) -> list[str]:
    """The person's password hash and their sessions' token hashes."""
    async with engine.connect() as conn:
        password = await conn.scalar(
            sa.text("SELECT password_hash FROM nchat_users WHERE id = :u"), {"u": user.id}
        )
        tokens = await conn.scalars(
            sa.text("SELECT refresh_hash FROM nchat_sessions WHERE user_id = :u"), {"u": user.id}
        )
        return [str(password), *tokens]
