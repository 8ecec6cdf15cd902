from __future__ import annotations

import httpx

from tests.fixtures.factories import UserFactory


async def test_sections_have_defaults_including_mobile(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    config = (await client.get("/api/admin/config", headers=admin.headers)).json()
    assert set(config) == {
        "setup",
        "owner",
        "branding",
        "theme",
        "features",
        "integrations",
        "auth_providers",
        "mobile",
        "files",
    }
    assert config["mobile"]["offlineCache"] == {
        "enabled": True,
        "maxMessages": 1000,
        "maxMediaSize": 524288000,
    }
    assert config["mobile"]["backgroundSync"] == {"enabled": True, "interval": 15}
    assert config["features"]["signup_open"] is False


async def test_patch_deep_merges_and_persists(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    r = await client.patch(
        "/api/admin/config",
        headers=admin.headers,
        json={
            "mobile": {"offlineCache": {"maxMessages": 5000}},
            "branding": {"app_name": "Team Space"},
        },
    )
    assert r.status_code == 200, r.text
    config = (await client.get("/api/admin/config", headers=admin.headers)).json()
    assert config["mobile"]["offlineCache"] == {
        "enabled": True,
        "maxMessages": 5000,
        "maxMediaSize": 524288000,
    }
    public = (await client.get("/api/config")).json()
    assert public["app_name"] == "Team Space"
    assert public["setup_completed"] is True


async def test_setup_and_owner_sections_are_not_patchable(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    r = await client.patch(
        "/api/admin/config", headers=admin.headers, json={"setup": {"completed": False}}
    )
    assert r.status_code == 422
    status = (await client.get("/api/setup/status")).json()
    assert status == {"completed": True}


async def test_oversized_config_is_refused(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    r = await client.patch(
        "/api/admin/config", headers=admin.headers, json={"theme": {"css": "x" * 70_000}}
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "config_too_large"
    config = (await client.get("/api/admin/config", headers=admin.headers)).json()
    assert "css" not in config["theme"]


async def test_audit_log_records_admin_actions(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    target = await make_user()
    await client.put(f"/api/users/{target.id}", headers=admin.headers, json={"role": "moderator"})
    await client.delete(f"/api/users/{target.id}", headers=admin.headers)
    await client.patch("/api/admin/config", headers=admin.headers, json={"theme": {"mode": "dark"}})
    page = (await client.get("/api/admin/audit", params={"limit": 2}, headers=admin.headers)).json()
    assert [e["action"] for e in page["entries"]] == ["config.updated", "user.deleted"]
    rest = (
        await client.get(
            "/api/admin/audit", params={"cursor": page["next_cursor"]}, headers=admin.headers
        )
    ).json()
    assert rest["entries"][0]["action"] == "user.updated"
    assert rest["entries"][0]["details"] == {"role": "moderator"}
    assert rest["entries"][0]["actor_id"] == str(admin.id)
