"""The users endpoints walked through every role pair. Expectations are written out here, not
derived from nchat.auth.rbac, so the matrix there is checked, not restated."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.factories import UserFactory

ROLES = ["guest", "member", "moderator", "admin", "owner"]
RANK = {r: i for i, r in enumerate(ROLES)}


def manages(actor: str, target: str) -> bool:
    """Admins act on roles below them; owners on everyone."""
    return actor == "owner" or (actor == "admin" and RANK[actor] > RANK[target])


ACTIONS = ["view", "update_profile", "set_role", "deactivate", "delete"]


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("target_role", ROLES)
@pytest.mark.parametrize("actor_role", ROLES)
async def test_users_matrix(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    actor_role: str,
    target_role: str,
    action: str,
) -> None:
    actor = await make_user(actor_role)
    target = await make_user(target_role)
    url = f"/api/users/{target.id}"
    if action == "view":
        r = await client.get(url, headers=actor.headers)
        expected = 200
    elif action == "update_profile":
        r = await client.put(url, headers=actor.headers, json={"display_name": "Renamed"})
        expected = 200 if manages(actor_role, target_role) else 403
    elif action == "set_role":
        new_role = "member" if target_role == "guest" else "guest"
        r = await client.put(url, headers=actor.headers, json={"role": new_role})
        expected = 200 if manages(actor_role, target_role) else 403
    elif action == "deactivate":
        r = await client.put(url, headers=actor.headers, json={"is_active": False})
        expected = 200 if manages(actor_role, target_role) else 403
    else:
        r = await client.delete(url, headers=actor.headers)
        expected = 204 if manages(actor_role, target_role) else 403
    assert r.status_code == expected, r.text

    after = (await client.get(url, headers=(await make_user("owner")).headers)).json()
    changed = r.status_code < 300 and action != "view"
    if action == "update_profile":
        assert (after["name"] == "Renamed") is changed
    elif action == "set_role":
        assert (after["role"] != target_role) is changed
    elif action == "deactivate":
        assert after["is_active"] is not changed
    elif action == "delete":
        assert (after["deleted_at"] is not None) is changed


@pytest.mark.parametrize("actor_role", ROLES)
async def test_create_user_and_config_need_admin(
    client: httpx.AsyncClient, make_user: UserFactory, actor_role: str
) -> None:
    actor = await make_user(actor_role)
    allowed = actor_role in ("admin", "owner")
    r = await client.post(
        "/api/users",
        headers=actor.headers,
        json={"email": "made@example.com", "username": "made", "password": "long enough pw"},
    )
    assert r.status_code == (201 if allowed else 403), r.text
    r = await client.get("/api/admin/config", headers=actor.headers)
    assert r.status_code == (200 if allowed else 403)
    r = await client.patch(
        "/api/admin/config", headers=actor.headers, json={"branding": {"app_name": "X"}}
    )
    assert r.status_code == (200 if allowed else 403)
    r = await client.get("/api/admin/audit", headers=actor.headers)
    assert r.status_code == (200 if allowed else 403)


@pytest.mark.parametrize(
    ("actor_role", "new_role", "allowed"),
    [
        ("admin", "admin", True),
        ("admin", "owner", False),
        ("owner", "owner", True),
        ("moderator", "guest", False),
    ],
)
async def test_who_may_grant_which_role(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    actor_role: str,
    new_role: str,
    allowed: bool,
) -> None:
    actor = await make_user(actor_role)
    target = await make_user("member")
    r = await client.put(f"/api/users/{target.id}", headers=actor.headers, json={"role": new_role})
    assert r.status_code == (200 if allowed else 403), r.text


@pytest.mark.parametrize("role", ROLES[:-1])  # owner has nothing above it
async def test_nobody_raises_their_own_role(
    client: httpx.AsyncClient, make_user: UserFactory, role: str
) -> None:
    me = await make_user(role)
    higher = ROLES[RANK[role] + 1]
    r = await client.put(f"/api/users/{me.id}", headers=me.headers, json={"role": higher})
    assert r.status_code == 403
    assert (await client.get("/api/users/me", headers=me.headers)).json()["role"] == role
