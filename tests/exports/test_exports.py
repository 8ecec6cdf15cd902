"""Data exports through HTTP: the admin's and the person's own, built by the app's worker
from the queue, downloaded once, hidden from everyone else, and expired after a week."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat import background
from nchat.appstate import get
from nchat.exports import builder, tasks
from nchat.jobs.queue import defer
from nchat.storage import STORAGE
from tests.exports.helpers import (
    FILE_BYTES,
    load,
    read_zip,
    secrets_of,
    status,
    until_done,
    write_everything,
)
from tests.fixtures.factories import UserFactory
from tests.realtime.nodes import eventually

ENTRIES = {
    "README.txt",
    "profile.json",
    "messages.json",
    "reactions.json",
    "files.json",
    "channels.json",
    "sessions.json",
    "notification_settings.json",
}


async def audit_actions(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> list[Any]:
    r = await client.get(
        "/api/admin/audit", params={"action": "export.", "limit": 50}, headers=admin_headers
    )
    assert r.status_code == 200, r.text
    return [(e["action"], e["actor_id"], e["target_id"]) for e in r.json()["entries"]]


async def test_an_admin_exports_a_person_and_downloads_the_zip_once(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    engine: AsyncEngine,
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pages of two rows: every list spans pages (the worker runs in this process).
    monkeypatch.setattr(builder, "PAGE", 2)
    ada, bob, admin = await make_user(), await make_user(), await make_user("admin")
    written = await write_everything(client, ada, bob)

    r = await client.post(f"/api/admin/users/{ada.id}/export", headers=admin.headers)
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["status"] == "pending"
    assert started["user_id"] == str(ada.id)
    assert started["download_url"] is None
    export_id = started["id"]

    done = await until_done(client, admin, export_id)
    assert done["status"] == "ready", done
    assert done["size"] > len(FILE_BYTES) // 10
    assert done["finished_at"] is not None
    assert done["expires_at"] is not None
    # Another member, and the person's other admin, see nothing.
    other_admin = await make_user("admin")
    for outsider in (bob, other_admin):
        assert (await status(client, outsider, export_id)).status_code == 404
        r = await client.get(f"/api/exports/{export_id}/download", headers=outsider.headers)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "export_not_found"
    assert (await status(client, admin, str(uuid.uuid4()))).status_code == 404

    r = await client.get(done["download_url"], headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"].startswith("attachment")
    assert r.headers["cache-control"] == "no-store"
    assert int(r.headers["content-length"]) == done["size"] == len(r.content)
    entries = read_zip(r.content)
    file_entry = f"files/{written.file['id']}/notes.txt"
    assert set(entries) == ENTRIES | {file_entry}
    assert entries[file_entry] == FILE_BYTES

    profile = load(entries, "profile.json")
    assert profile["id"] == str(ada.id)
    assert profile["username"] == ada.username
    assert profile["email"] == ada.email
    assert "password_hash" not in profile

    messages = {m["id"]: m for m in load(entries, "messages.json")}
    # Hers, in every channel and the DM; none of Bob's.
    assert set(messages) == {
        written.edited["id"],
        written.reply["id"],
        written.with_file["id"],
        written.in_dm["id"],
    }
    edited = messages[written.edited["id"]]
    assert edited["text"] == "second version"
    assert edited["edited_at"] is not None
    assert [e["text"] for e in edited["edits"]] == ["first version"]
    assert edited["channel"] == {"id": written.general["id"], "name": "general", "type": "public"}
    assert edited["created_at"].endswith("Z")
    assert edited["deleted_at"] is None
    assert messages[written.reply["id"]]["thread_id"] == written.bobs_root["id"]
    assert messages[written.in_dm["id"]]["channel"]["type"] == "direct"
    assert messages[written.in_dm["id"]]["text"] == "just between us"
    assert messages[written.with_file["id"]]["files"] == [
        {"id": written.file["id"], "name": "notes.txt", "size": len(FILE_BYTES)}
    ]

    reactions = load(entries, "reactions.json")
    assert [(x["message_id"], x["emoji"]) for x in reactions] == [(written.bobs_root["id"], "👍")]
    files = load(entries, "files.json")
    assert len(files) == 1
    assert files[0]["path"] == file_entry
    assert files[0]["sha256"] == hashlib.sha256(FILE_BYTES).hexdigest()
    assert files[0]["message_id"] == written.with_file["id"]
    channels = {c["channel_id"]: c for c in load(entries, "channels.json")}
    assert set(channels) == {written.general["id"], written.dm["id"]}
    assert channels[written.general["id"]]["role"] == "admin"
    sessions = load(entries, "sessions.json")
    assert [s["user_agent"] for s in sessions["sessions"]] == ["pytest"]
    assert sessions["push_devices"] == []
    assert [a["address"] for a in sessions["sign_in_addresses"]] == ["127.0.0.1"]
    assert load(entries, "notification_settings.json") == {"settings": None, "channels": []}
    assert ada.username in entries["README.txt"].decode()
    # No credential anywhere: not the password's hash, not a token's.
    everything = b"".join(entries.values())
    for secret in await secrets_of(engine, ada):
        assert secret.encode() not in everything
    assert b"password_hash" not in everything
    assert b"refresh_hash" not in everything

    # Once: the zip is gone from the store, and a second download finds nothing.
    after = (await status(client, admin, export_id)).json()
    assert after["status"] == "downloaded"
    assert after["download_url"] is None
    assert after["downloaded_at"] is not None
    r = await client.get(done["download_url"], headers=admin.headers)
    assert r.status_code == 410
    assert r.json()["error"]["code"] == "export_gone"
    assert await get(app, STORAGE).stat(f"exports/{export_id}.zip") is None

    assert await audit_actions(client, admin.headers) == [
        ("export.downloaded", str(admin.id), str(ada.id)),
        ("export.requested", str(admin.id), str(ada.id)),
    ]


async def test_a_person_exports_their_own_data_one_at_a_time(
    client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine
) -> None:
    ada, bob, admin = await make_user(), await make_user(), await make_user("admin")
    await write_everything(client, ada, bob)
    r = await client.post("/api/users/me/export", headers=ada.headers)
    assert r.status_code == 202, r.text
    export_id = r.json()["id"]
    done = await until_done(client, ada, export_id)
    assert done["status"] == "ready"
    # Not the admin's to see: they did not ask for it.
    assert (await status(client, admin, export_id)).status_code == 404
    # One an hour.
    r = await client.post("/api/users/me/export", headers=ada.headers)
    assert r.status_code == 429
    assert 3500 < int(r.headers["retry-after"]) <= 3600
    r = await client.post(f"/api/admin/users/{ada.id}/export", headers=admin.headers)
    assert r.status_code == 429

    r = await client.get(done["download_url"], headers=ada.headers)
    assert r.status_code == 200
    messages = load(read_zip(r.content), "messages.json")
    assert len(messages) == 4

    # While one is being made, another is refused, whoever asks.
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO nchat_exports (id, user_id, requested_by, status) "
                "VALUES (:id, :u, :u, 'running')"
            ),
            {"id": uuid.uuid4(), "u": bob.id},
        )
    r = await client.post("/api/users/me/export", headers=bob.headers)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "export_in_progress"
    r = await client.post(f"/api/admin/users/{bob.id}/export", headers=admin.headers)
    assert r.status_code == 409


async def test_only_admins_export_others_and_never_someone_above_them(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    ada, bob = await make_user(), await make_user()
    admin, owner = await make_user("admin"), await make_user("owner")
    r = await client.post(f"/api/admin/users/{ada.id}/export", headers=bob.headers)
    assert r.status_code == 403
    # Not even for themselves: theirs is /api/users/me/export.
    r = await client.post(f"/api/admin/users/{bob.id}/export", headers=bob.headers)
    assert r.status_code == 403
    r = await client.post(f"/api/admin/users/{owner.id}/export", headers=admin.headers)
    assert r.status_code == 403
    r = await client.post(f"/api/admin/users/{uuid.uuid4()}/export", headers=admin.headers)
    assert r.status_code == 404
    r = await client.post(f"/api/admin/users/{admin.id}/export", headers=owner.headers)
    assert r.status_code == 202


async def test_an_export_not_downloaded_expires(
    client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine, app: FastAPI
) -> None:
    ada = await make_user()
    r = await client.post("/api/users/me/export", headers=ada.headers)
    export_id = r.json()["id"]
    done = await until_done(client, ada, export_id)
    assert done["status"] == "ready"
    key = f"exports/{export_id}.zip"
    storage = get(app, STORAGE)
    assert await storage.stat(key) is not None
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE nchat_exports SET expires_at = now() - interval '1 minute' WHERE id = :id"
            ),
            {"id": export_id},
        )
    # What the schedule does every five minutes, now, by the app's own worker.
    jobs = get(app, background.BACKGROUND).jobs
    periodic = jobs.periodic_registry.periodic_tasks
    assert periodic[(tasks.SWEEP, tasks.SWEEP)].cron == tasks.CRON
    await defer(jobs, tasks.SWEEP, task_kwargs={"timestamp": 0})
    expired = await until_expired(client, ada, export_id)
    assert expired["download_url"] is None
    assert await storage.stat(key) is None
    r = await client.get(f"/api/exports/{export_id}/download", headers=ada.headers)
    assert r.status_code == 410


async def until_expired(client: httpx.AsyncClient, user: Any, export_id: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def gone() -> bool:
        seen.update((await status(client, user, export_id)).json())
        return bool(seen["status"] == "expired")

    await eventually(gone, timeout=30, what="the sweep to expire the export")
    return seen


async def test_the_admin_who_asked_loses_the_export_with_the_right(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    ada = await make_user()
    admin, owner = await make_user("admin"), await make_user("owner")
    r = await client.post(f"/api/admin/users/{ada.id}/export", headers=admin.headers)
    assert r.status_code == 202, r.text
    export_id = r.json()["id"]
    assert (await until_done(client, admin, export_id))["status"] == "ready"
    r = await client.put(f"/api/users/{admin.id}", headers=owner.headers, json={"role": "member"})
    assert r.status_code == 200, r.text
    assert (await status(client, admin, export_id)).status_code == 404
    r = await client.get(f"/api/exports/{export_id}/download", headers=admin.headers)
    assert r.status_code == 404
    # The person still may.
    assert (await status(client, ada, export_id)).json()["status"] == "ready"


async def test_a_new_export_replaces_the_last_one_in_the_store(
    client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine, app: FastAPI
) -> None:
    ada = await make_user()
    first = (await client.post("/api/users/me/export", headers=ada.headers)).json()["id"]
    assert (await until_done(client, ada, first))["status"] == "ready"
    async with engine.begin() as conn:  # asked more than an hour ago
        await conn.execute(
            sa.text("UPDATE nchat_exports SET created_at = now() - interval '2 hours'")
        )
    r = await client.post("/api/users/me/export", headers=ada.headers)
    assert r.status_code == 202, r.text
    second = r.json()["id"]
    assert (await until_done(client, ada, second))["status"] == "ready"
    await defer(get(app, background.BACKGROUND).jobs, tasks.SWEEP, task_kwargs={"timestamp": 0})
    assert (await until_expired(client, ada, first))["download_url"] is None
    assert (await status(client, ada, second)).json()["status"] == "ready"
    assert await get(app, STORAGE).stat(f"exports/{first}.zip") is None


async def test_erasing_a_person_expires_their_exports(
    client: httpx.AsyncClient, make_user: UserFactory, app: FastAPI
) -> None:
    ada, admin = await make_user(), await make_user("admin")
    r = await client.post(f"/api/admin/users/{ada.id}/export", headers=admin.headers)
    export_id = r.json()["id"]
    assert (await until_done(client, admin, export_id))["status"] == "ready"
    r = await client.delete(
        f"/api/admin/users/{ada.id}", params={"anonymise": "true"}, headers=admin.headers
    )
    assert r.status_code == 204, r.text
    await defer(get(app, background.BACKGROUND).jobs, tasks.SWEEP, task_kwargs={"timestamp": 0})
    assert (await until_expired(client, admin, export_id))["status"] == "expired"
    assert await get(app, STORAGE).stat(f"exports/{export_id}.zip") is None


async def test_a_download_under_way_holds_the_export(
    client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine
) -> None:
    ada = await make_user()
    export_id = (await client.post("/api/users/me/export", headers=ada.headers)).json()["id"]
    assert (await until_done(client, ada, export_id))["status"] == "ready"

    async def started(ago: timedelta) -> None:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text("UPDATE nchat_exports SET download_started_at = :at WHERE id = :id"),
                {"at": datetime.now(UTC) - ago, "id": export_id},
            )

    # Another download of it is going on (in another tab, on another node): not twice.
    await started(timedelta(seconds=1))
    r = await client.get(f"/api/exports/{export_id}/download", headers=ada.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "export_downloading"
    # One that started hours ago died with its server: the export is free again.
    await started(timedelta(hours=2))
    r = await client.get(f"/api/exports/{export_id}/download", headers=ada.headers)
    assert r.status_code == 200 and r.content[:2] == b"PK"
    r = await client.get(f"/api/exports/{export_id}/download", headers=ada.headers)
    assert r.status_code == 410
