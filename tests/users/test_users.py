from __future__ import annotations

import httpx
import pytest

from tests.fixtures.factories import UserFactory


async def test_me_and_user_json_shape(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    user = await make_user(username="shape")
    me = (await client.get("/api/users/me", headers=user.headers)).json()
    assert {"id", "username", "name", "email", "role", "created_at"} <= set(me)
    assert me["email"] == "shape@example.com"
    assert me["name"] == "Shape"


async def test_email_only_to_self_and_admins(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    target = await make_user()
    member = await make_user()
    admin = await make_user("admin")
    seen_by_member = (await client.get(f"/api/users/{target.id}", headers=member.headers)).json()
    assert seen_by_member["email"] is None
    seen_by_admin = (await client.get(f"/api/users/{target.id}", headers=admin.headers)).json()
    assert seen_by_admin["email"] == target.email
    listed = (await client.get("/api/users", headers=member.headers)).json()["users"]
    assert all(u["email"] is None for u in listed if u["id"] != str(member.id))


async def test_list_search_and_cursor(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    viewer = await make_user(username="viewer")
    for name in ["anna", "annabel", "bob", "carla", "dan_anne"]:
        await make_user(username=name)
    found = (await client.get("/api/users", params={"q": "ann"}, headers=viewer.headers)).json()
    assert [u["username"] for u in found["users"]] == ["anna", "annabel", "dan_anne"]

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/users", params=params, headers=viewer.headers)).json()
        seen += [u["username"] for u in page["users"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(["viewer", "anna", "annabel", "bob", "carla", "dan_anne"])


async def test_wildcards_in_search_are_literal(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    viewer = await make_user(username="viewer2")
    await make_user(username="abc")
    found = (await client.get("/api/users", params={"q": "%"}, headers=viewer.headers)).json()
    assert found["users"] == []


async def test_update_own_profile(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    user = await make_user()
    r = await client.put(
        f"/api/users/{user.id}",
        headers=user.headers,
        json={
            "display_name": "Ada L.",
            "avatar_url": "https://example.com/a.png",
            "timezone": "Europe/Paris",
            "locale": "fr-FR",
            "status_text": "in a meeting",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["timezone"], body["locale"], body["status_text"]) == (
        "Ada L.",
        "Europe/Paris",
        "fr-FR",
        "in a meeting",
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "Mars/Olympus"),
        ("locale", "not a locale!"),
        ("avatar_url", "javascript:alert(1)"),
        ("display_name", "x" * 81),
        ("status_text", "y" * 141),
        ("role", "emperor"),
        ("is_active", "maybe"),
        ("unknown_field", 1),
    ],
)
async def test_bad_profile_input_is_422_and_changes_nothing(
    client: httpx.AsyncClient, make_user: UserFactory, field: str, value: object
) -> None:
    user = await make_user()
    before = (await client.get("/api/users/me", headers=user.headers)).json()
    r = await client.put(f"/api/users/{user.id}", headers=user.headers, json={field: value})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    assert (await client.get("/api/users/me", headers=user.headers)).json() == before


async def test_soft_delete_revokes_sessions_and_hides_user(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    member = await make_user()
    target = await make_user()
    assert (
        await client.delete(f"/api/users/{target.id}", headers=admin.headers)
    ).status_code == 204
    assert (await client.get("/api/users/me", headers=target.headers)).status_code == 401
    assert (await client.get(f"/api/users/{target.id}", headers=member.headers)).status_code == 404
    seen = (await client.get(f"/api/users/{target.id}", headers=admin.headers)).json()
    assert seen["deleted_at"] is not None
    signin = await client.post(
        "/api/auth/signin", json={"login": target.username, "password": target.password}
    )
    assert signin.status_code == 401
    again = await client.delete(f"/api/users/{target.id}", headers=admin.headers)
    assert again.status_code == 404


async def test_last_owner_cannot_leave(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    owner = await make_user("owner")
    for change in ({"role": "admin"}, {"is_active": False}):
        r = await client.put(f"/api/users/{owner.id}", headers=owner.headers, json=change)
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "last_owner"
    r = await client.delete(f"/api/users/{owner.id}", headers=owner.headers)
    assert r.status_code == 409

    second = await make_user("owner")
    r = await client.put(f"/api/users/{owner.id}", headers=second.headers, json={"role": "admin"})
    assert r.status_code == 200
    r = await client.put(f"/api/users/{second.id}", headers=second.headers, json={"role": "admin"})
    assert r.status_code == 409


async def test_deactivation_ends_sessions(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    target = await make_user()
    r = await client.put(
        f"/api/users/{target.id}", headers=admin.headers, json={"is_active": False}
    )
    assert r.status_code == 200
    assert (await client.get("/api/users/me", headers=target.headers)).status_code == 401


@pytest.mark.parametrize("path", ["/api/users/not-a-uuid", "/api/users/123"])
async def test_malformed_ids_are_4xx(
    client: httpx.AsyncClient, make_user: UserFactory, path: str
) -> None:
    user = await make_user()
    r = await client.get(path, headers=user.headers)
    assert r.status_code == 422
    assert "error" in r.json()


async def test_unknown_id_is_404(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    user = await make_user()
    r = await client.get("/api/users/01a21496-2bae-71f5-95d2-b19f8c740328", headers=user.headers)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "user_not_found"


async def test_bad_list_cursor_is_400(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    user = await make_user()
    r = await client.get("/api/users", params={"cursor": "%%%"}, headers=user.headers)
    assert r.status_code == 400
    r = await client.get("/api/users", params={"limit": 1000}, headers=user.headers)
    assert r.status_code == 422


async def test_search_folds_accents(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    viewer = await make_user(username="viewer")
    jose = await make_user(username="jose_m")
    r = await client.put(
        f"/api/users/{jose.id}", headers=jose.headers, json={"display_name": "José Martínez"}
    )
    assert r.status_code == 200, r.text
    for q in ("martinez", "MARTÍNEZ", "josé"):
        found = (await client.get("/api/users", params={"q": q}, headers=viewer.headers)).json()
        assert [u["username"] for u in found["users"]] == ["jose_m"], q
