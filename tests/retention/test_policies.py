"""`/api/admin/retention` and `/api/admin/channels/{id}/retention` through HTTP: the policies
are validated, a channel's replaces the workspace's, every change is audited with before and
after, and people without the permission are refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api
from tests.retention.helpers import BASE, channel_path, set_channel, set_global

UNKNOWN = "01a21496-2bae-71f5-95d2-b19f8c740328"


async def audit(client: httpx.AsyncClient, admin: MadeUser, action: str) -> list[dict[str, Any]]:
    r = await client.get("/api/admin/audit", headers=admin.headers, params={"action": action})
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


@pytest.mark.parametrize(
    "body",
    [
        {"message_days": 0},
        {"message_days": 36501},
        {"message_days": -3},
        {"message_days": "thirty"},
        {"message_days": 1.5},
        {"message_days": "30"},
        {"message_days": 30, "include_pinned": 0},
        {"include_pinned": True},  # message_days must be given: null is forever
        {"message_days": 30, "keep_files": True},
        {"message_days": 30, "include_pinned": "sometimes"},
    ],
)
async def test_a_bad_policy_is_422_and_changes_nothing(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, body: dict[str, Any]
) -> None:
    admin = await make_user("admin")
    channel = await api.create_channel(admin, "general")
    for path in (BASE, channel_path(channel["id"])):
        r = await client.put(path, headers=admin.headers, json=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "validation_error"
    assert (await client.get(BASE, headers=admin.headers)).json()["message_days"] is None
    r = await client.get(channel_path(channel["id"]), headers=admin.headers)
    assert r.json()["override"] is None
    assert await audit(client, admin, "retention.") == []


async def test_the_workspace_policy_is_kept_and_audited(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    r = await client.get(BASE, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "message_days": None,
        "include_pinned": False,
        "updated_at": None,
        "updated_by": None,
    }
    for days in (1, 36500, 90):
        await set_global(client, admin, days)
    after = await set_global(client, admin, 30, include_pinned=True)
    assert after["message_days"] == 30 and after["include_pinned"] is True
    assert after["updated_by"] == str(admin.id) and after["updated_at"] is not None
    assert (await client.get(BASE, headers=admin.headers)).json() == after
    forever = await set_global(client, admin, None)
    assert forever["message_days"] is None and forever["include_pinned"] is False

    entries = await audit(client, admin, "retention.updated")
    assert [e["details"] for e in entries[:2]] == [
        {
            "before": {"message_days": 30, "include_pinned": True},
            "after": {"message_days": None, "include_pinned": False},
        },
        {
            "before": {"message_days": 90, "include_pinned": False},
            "after": {"message_days": 30, "include_pinned": True},
        },
    ]
    assert entries[-1]["details"]["before"] is None  # the first policy replaced nothing
    assert {e["actor_id"] for e in entries} == {str(admin.id)}
    assert {e["target_type"] for e in entries} == {"workspace"}


async def test_a_channel_policy_replaces_the_workspace_one_until_removed(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    admin = await make_user("admin")
    ada = await make_user(username="ada")
    # A private channel the admin is not in: admins set policies for every channel.
    secret = await api.create_channel(ada, "secret", type_="private")
    path = channel_path(secret["id"])
    await set_global(client, admin, 30)

    r = await client.get(path, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "workspace" and r.json()["override"] is None
    assert r.json()["effective"] == {"message_days": 30, "include_pinned": False}

    # Keep forever here, whatever the workspace says.
    own = await set_channel(client, admin, secret["id"], None)
    assert own["source"] == "channel"
    assert own["effective"] == {"message_days": None, "include_pinned": False}
    own = await set_channel(client, admin, secret["id"], 7, include_pinned=True)
    assert own["effective"] == {"message_days": 7, "include_pinned": True}
    assert own["override"]["updated_by"] == str(admin.id)
    assert (await client.get(path, headers=admin.headers)).json() == own

    r = await client.delete(path, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "workspace"
    assert r.json()["effective"] == {"message_days": 30, "include_pinned": False}
    assert (await client.delete(path, headers=admin.headers)).status_code == 200  # no-op

    updated = await audit(client, admin, "retention.channel_updated")
    assert [e["details"] for e in updated] == [
        {
            "before": {"message_days": None, "include_pinned": False},
            "after": {"message_days": 7, "include_pinned": True},
        },
        {"before": None, "after": {"message_days": None, "include_pinned": False}},
    ]
    assert {(e["target_type"], e["target_id"]) for e in updated} == {("channel", secret["id"])}
    removed = await audit(client, admin, "retention.channel_removed")
    assert [e["details"] for e in removed] == [
        {"before": {"message_days": 7, "include_pinned": True}, "after": None}
    ]


async def test_an_unknown_channel_is_404(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    admin = await make_user("admin")
    path = channel_path(UNKNOWN)
    for r in (
        await client.get(path, headers=admin.headers),
        await client.put(path, headers=admin.headers, json={"message_days": 3}),
        await client.delete(path, headers=admin.headers),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "channel_not_found"


@pytest.mark.parametrize("role", ["member", "moderator", "guest"])
async def test_people_without_the_permission_are_refused(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, role: str
) -> None:
    admin = await make_user("admin")
    someone = await make_user(role)
    channel = await api.create_channel(admin, "general")
    await set_global(client, admin, 30)
    path = channel_path(channel["id"])
    body = {"message_days": 1}
    for r in (
        await client.get(BASE, headers=someone.headers),
        await client.put(BASE, headers=someone.headers, json=body),
        await client.post(f"{BASE}/dry-run", headers=someone.headers),
        await client.get(path, headers=someone.headers),
        await client.put(path, headers=someone.headers, json=body),
        await client.delete(path, headers=someone.headers),
    ):
        assert r.status_code == 403, r.text
        assert r.json()["error"]["details"] == {"permission": "retention:manage"}
    assert (await client.get(BASE, headers=admin.headers)).json()["message_days"] == 30
    r = await client.get(path, headers=admin.headers)
    assert r.json()["override"] is None
    assert (await client.get(BASE)).status_code == 401
