"""Configuration changes are kept as versions, audited with only the changed keys (before and
after), restorable as a new version, and heard live by every open socket as config.updated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from nchat.admin.sections import PublicConfig
from tests.fixtures.factories import MadeUser, UserFactory
from tests.realtime.conftest import LiveServer, start_live, stop_live
from tests.realtime.test_gateway import event_of, frame


@pytest.fixture
async def live(database_url: str, tmp_path: Path, clean_db: None) -> AsyncIterator[LiveServer]:
    server = await start_live(database_url, tmp_path)
    yield server
    await stop_live(server)


async def patch(client: httpx.AsyncClient, admin: MadeUser, body: dict[str, Any]) -> None:
    r = await client.patch("/api/admin/config", headers=admin.headers, json=body)
    assert r.status_code == 200, r.text


async def history(client: httpx.AsyncClient, admin: MadeUser, **params: Any) -> dict[str, Any]:
    r = await client.get("/api/admin/config/history", headers=admin.headers, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_each_change_is_a_version_with_only_its_changed_keys(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    await patch(client, admin, {"features": {"search": False}})
    await patch(client, admin, {"branding": {"app_name": "Acme"}, "features": {"search": False}})
    await patch(client, admin, {"features": {"search": False}})  # no change: no version
    page = await history(client, admin)
    assert [v["version"] for v in page["versions"]] == [2, 1]
    newest, first = page["versions"]
    assert first["changes"] == {"features.search": {"before": True, "after": False}}
    assert newest["changes"] == {"branding.app_name": {"before": "nchat", "after": "Acme"}}
    assert newest["actor_id"] == str(admin.id) and newest["action"] == "update"
    assert newest["changed_at"] >= first["changed_at"]

    audit = await client.get("/api/admin/audit", headers=admin.headers, params={"limit": 2})
    entries = audit.json()["entries"]
    assert [e["action"] for e in entries] == ["config.updated", "config.updated"]
    assert entries[0]["details"] == {
        "version": 2,
        "changes": {"branding.app_name": {"before": "nchat", "after": "Acme"}},
    }
    assert entries[0]["actor_id"] == str(admin.id)


async def test_history_pages_are_bounded(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    admin = await make_user("admin")
    for n in range(5):
        await patch(client, admin, {"mobile": {"backgroundSync": {"interval": 10 + n}}})
    first = await history(client, admin, limit=2)
    assert [v["version"] for v in first["versions"]] == [5, 4]
    rest = await history(client, admin, limit=2, before=first["next_before"])
    assert [v["version"] for v in rest["versions"]] == [3, 2]
    last = await history(client, admin, limit=2, before=rest["next_before"])
    assert [v["version"] for v in last["versions"]] == [1] and last["next_before"] is None
    for bad in ({"limit": 0}, {"limit": 101}, {"before": 0}, {"limit": "lots"}):
        r = await client.get("/api/admin/config/history", headers=admin.headers, params=bad)
        assert r.status_code == 422, (bad, r.text)


async def test_restore_brings_back_a_whole_version_as_a_new_one(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    await patch(client, admin, {"branding": {"app_name": "One"}, "theme": {"mode": "dark"}})
    await patch(client, admin, {"branding": {"app_name": "Two"}, "features": {"push": False}})
    r = await client.post("/api/admin/config/history/1/restore", headers=admin.headers)
    assert r.status_code == 200, r.text
    restored = r.json()
    assert restored["branding"]["app_name"] == "One"
    assert restored["theme"]["mode"] == "dark"
    assert restored["features"]["push"] is True  # version 1 had push on
    assert restored["setup"]["completed"] is True  # setup is not a version's to restore
    page = await history(client, admin)
    newest = page["versions"][0]
    assert newest["version"] == 3 and newest["action"] == "restore"
    assert newest["restored_from"] == 1
    assert newest["changes"] == {
        "branding.app_name": {"before": "Two", "after": "One"},
        "features.push": {"before": False, "after": True},
    }
    audit = await client.get("/api/admin/audit", headers=admin.headers, params={"limit": 1})
    [entry] = audit.json()["entries"]
    assert entry["action"] == "config.restored"
    assert entry["details"]["restored_from"] == 1
    assert entry["details"]["changes"] == newest["changes"]
    public = (await client.get("/api/config")).json()
    assert public["app_name"] == "One" and public["push"] is True


async def test_restore_needs_the_right_and_an_existing_version(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin, member = await make_user("admin"), await make_user()
    await patch(client, admin, {"branding": {"app_name": "One"}})
    for version in (2, 0, 2**40):
        r = await client.post(f"/api/admin/config/history/{version}/restore", headers=admin.headers)
        assert r.status_code == 404, r.text
    r = await client.post("/api/admin/config/history/1/restore", headers=member.headers)
    assert r.status_code in (403, 404)
    r = await client.get("/api/admin/config/history", headers=member.headers)
    assert r.status_code in (403, 404)
    assert [v["version"] for v in (await history(client, admin))["versions"]] == [1]


async def test_every_open_socket_hears_config_updated_with_the_public_part(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin, member, guest = await make_user("admin"), await make_user(), await make_user("guest")
    async with (
        websockets.connect(live.ws_url(member.access_token)) as ws,
        websockets.connect(live.ws_url(guest.access_token)) as other,
    ):
        await frame(ws, "hello")
        await frame(other, "hello")
        await patch(client, admin, {"features": {"search": False}, "theme": {"mode": "light"}})
        event = await event_of(ws, "config.updated")
        assert (await event_of(other, "config.updated"))["data"] == event["data"]
    assert event["channel_id"] is None
    data = PublicConfig.model_validate(event["data"])
    assert data.search is False and data.theme["mode"] == "light"
    assert data == PublicConfig.model_validate((await client.get("/api/config")).json())
    # Only the public part: nothing of the mobile, files or owner sections.
    assert not {"mobile", "owner", "files"} & set(event["data"])
