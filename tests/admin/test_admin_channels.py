"""`/api/admin/channels` through HTTP and real sockets: every channel's metadata (never its
messages), archive, hard delete, owner and visibility, each audited; members refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api
from tests.realtime.conftest import LiveServer, start_live, stop_live
from tests.realtime.nodes import eventually
from tests.realtime.test_gateway import connect, event_of, frame
from tests.realtime.test_graphql_subscriptions import (
    MESSAGE_CREATED,
    gql_socket,
    message,
    subscribe,
)

BASE = "/api/admin/channels"
UNKNOWN = "01a21496-2bae-71f5-95d2-b19f8c740328"


@pytest.fixture
async def live(database_url: str, tmp_path: Path, clean_db: None) -> AsyncIterator[LiveServer]:
    server = await start_live(database_url, tmp_path)
    yield server
    await stop_live(server)


async def listed(client: httpx.AsyncClient, admin: MadeUser, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(BASE, headers=admin.headers, params=params)
    assert r.status_code == 200, r.text
    channels: list[dict[str, Any]] = r.json()["channels"]
    return channels


async def audit(client: httpx.AsyncClient, admin: MadeUser, **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/api/admin/audit", headers=admin.headers, params=params)
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


async def post(
    client: httpx.AsyncClient, user: MadeUser, path: str, body: Any = None
) -> httpx.Response:
    return await client.post(f"{BASE}/{path}", headers=user.headers, json=body)


async def test_private_channels_and_dms_are_listed_without_their_messages(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    admin = await make_user("admin")
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    secret = await api.create_channel(ada, "secret", type_="private", members=(bob,))
    await api.send(ada, secret["id"], "the launch code is swordfish")
    r = await client.post(
        "/api/channels/direct", headers=ada.headers, json={"user_ids": [str(bob.id)]}
    )
    dm = r.json()
    await api.send(bob, dm["id"], "psst, a private word")

    r = await client.get(BASE, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert "swordfish" not in r.text and "private word" not in r.text
    by_id = {c["id"]: c for c in r.json()["channels"]}
    listed_secret = by_id[secret["id"]]
    assert listed_secret["name"] == "secret"
    assert listed_secret["type"] == "private" and listed_secret["private"] is True
    assert listed_secret["member_count"] == 2
    assert listed_secret["archived"] is False
    assert listed_secret["owner"] == {"id": str(ada.id), "username": "ada"}
    assert listed_secret["last_message_at"] is not None and listed_secret["created_at"]
    assert listed_secret["dm_members"] is None
    listed_dm = by_id[dm["id"]]
    assert listed_dm["type"] == "direct" and listed_dm["name"] is None
    assert {m["username"] for m in listed_dm["dm_members"]} == {"ada", "bob"}
    # Listing is not reading: the admin still cannot open either conversation.
    for channel_id in (secret["id"], dm["id"]):
        r = await client.get(f"/api/channels/{channel_id}/messages", headers=admin.headers)
        assert r.status_code == 404, r.text


async def test_filters_and_pages(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    admin = await make_user("admin")
    ada = await make_user()
    names = ["alpha-team", "alpha-ops", "beta", "gamma"]
    made = {
        n: await api.create_channel(ada, n, type_="private" if n == "beta" else "public")
        for n in names
    }
    r = await post(client, admin, f"{made['gamma']['id']}/archive")
    assert r.status_code == 200, r.text

    assert {c["name"] for c in await listed(client, admin, q="ALPHA")} == {
        "alpha-team",
        "alpha-ops",
    }
    assert [c["name"] for c in await listed(client, admin, kind="private")] == ["beta"]
    assert [c["name"] for c in await listed(client, admin, archived="true")] == ["gamma"]
    assert "gamma" not in {c["name"] for c in await listed(client, admin, archived="false")}
    assert await listed(client, admin, q="100%_") == []  # LIKE characters are text

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = await client.get(BASE, headers=admin.headers, params=params)
        page = r.json()
        assert len(page["channels"]) <= 3
        seen += [c["name"] for c in page["channels"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(names)


async def test_archive_and_unarchive_are_audited_on_both_routes(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    admin = await make_user("admin")
    ada = await make_user()
    secret = await api.create_channel(ada, "hidden", type_="private")
    r = await post(client, admin, f"{secret['id']}/archive")
    assert r.status_code == 200, r.text
    assert r.json()["archived"] is True and r.json()["archived_at"]
    assert (await api.channel(ada, secret["id"]))["archived"] is True
    r = await post(client, admin, f"{secret['id']}/archive")  # already: nothing recorded
    assert r.status_code == 200
    r = await post(client, admin, f"{secret['id']}/unarchive")
    assert r.status_code == 200 and r.json()["archived"] is False

    entries = await audit(client, admin, action="channel.")
    assert [(e["action"], e["actor_id"]) for e in entries] == [
        ("channel.unarchived", str(admin.id)),
        ("channel.archived", str(admin.id)),
    ]
    assert entries[1]["target_type"] == "channel" and entries[1]["target_id"] == secret["id"]
    assert entries[1]["details"] == {
        "name": "hidden",
        "type": "private",
        "before": {"archived": False},
        "after": {"archived": True},
    }
    assert entries[1]["ip"]

    # A channel admin archiving through the channel routes is audited too.
    r = await client.delete(f"/api/channels/{secret['id']}", headers=ada.headers)
    assert r.status_code == 200, r.text
    r = await client.patch(
        f"/api/channels/{secret['id']}", headers=ada.headers, json={"archived": False}
    )
    assert r.status_code == 200, r.text
    entries = await audit(client, admin, action="channel.", actor_id=str(ada.id))
    assert [e["action"] for e in entries] == ["channel.unarchived", "channel.archived"]
    assert entries[0]["details"]["after"] == {"archived": False}


async def test_direct_messages_cannot_be_archived_or_reowned(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    ada = await make_user()
    bob = await make_user()
    r = await client.post(
        "/api/channels/direct", headers=ada.headers, json={"user_ids": [str(bob.id)]}
    )
    dm = r.json()["id"]
    for path, body in (
        ("archive", None),
        ("owner", {"user_id": str(ada.id)}),
        ("visibility", {"private": False}),
    ):
        r = await post(client, admin, f"{dm}/{path}", body)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "channel_is_dm"


async def test_hard_delete_removes_the_channel_for_its_members(
    live: LiveServer,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    engine: AsyncEngine,
) -> None:
    admin = await make_user("admin")
    ada = await make_user()
    bob = await make_user()
    doomed = await api.create_channel(ada, "doomed", type_="private", members=(bob,))
    root = await api.send(ada, doomed["id"], "first")
    await api.send(bob, doomed["id"], "a reply", thread_id=root["id"])
    kept = await api.create_channel(ada, "kept", members=(bob,))
    await api.send(ada, kept["id"], "still here")

    async with connect(live, bob) as ws:
        await frame(ws, "hello")
        r = await client.delete(f"{BASE}/{doomed['id']}", headers=admin.headers)
        assert r.status_code == 202, r.text
        assert r.json() == {"id": doomed["id"], "status": "deleting"}
        gone = await event_of(ws, "channel.deleted")
        assert gone["channel_id"] == doomed["id"] and gone["data"]["name"] == "doomed"
        left = await event_of(ws, "member.left")
        assert left["channel_id"] == doomed["id"] and left["data"]["user_id"] == str(bob.id)

    for user in (ada, bob, admin):
        r = await client.get(f"/api/channels/{doomed['id']}", headers=user.headers)
        assert r.status_code == 404, r.text
    r = await client.get(f"/api/channels/{doomed['id']}/messages", headers=ada.headers)
    assert r.status_code == 404
    r = await client.post(
        "/api/messages", headers=ada.headers, json={"channel_id": doomed["id"], "text": "hello?"}
    )
    assert r.status_code == 404
    assert doomed["id"] not in {c["id"] for c in await listed(client, admin)}
    assert (await api.history(bob, kept["id"]))["messages"][0]["text"] == "still here"

    async def emptied() -> bool:
        """The queue's worker removed the rest (tests/admin/test_channel_purge.py: how)."""
        async with engine.connect() as conn:
            left_behind = await conn.scalar(
                sa.text(
                    "SELECT (SELECT count(*) FROM nchat_messages WHERE channel_id = :c)"
                    " + (SELECT count(*) FROM nchat_channels WHERE id = :c)"
                ),
                {"c": doomed["id"]},
            )
        return left_behind == 0

    await eventually(emptied, what="the purge job to remove the channel")

    [entry] = await audit(client, admin, action="channel.deleted")
    assert entry["target_id"] == doomed["id"]
    assert entry["details"]["before"] == {
        "archived": False,
        "owner_id": str(ada.id),
        "members": 2,
        "messages": 2,
        "files": 0,
    }
    assert entry["details"]["after"] is None
    r = await client.delete(f"{BASE}/{doomed['id']}", headers=admin.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "channel_not_found"


async def test_a_member_offline_during_the_delete_learns_it_on_resume(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    admin = await make_user("admin")
    ada = await make_user()
    bob = await make_user()
    doomed = await api.create_channel(ada, "doomed", members=(bob,))
    async with connect(live, bob) as ws:
        cursor = (await frame(ws, "hello"))["cursor"]
    r = await client.delete(f"{BASE}/{doomed['id']}", headers=admin.headers)
    assert r.status_code == 202
    async with connect(live, bob, since=cursor) as ws:
        await frame(ws, "hello")
        # Addressed to bob: it reaches him whether the replay or the live stream carries it.
        left = await event_of(ws, "member.left")
        assert left["channel_id"] == doomed["id"] and left["data"]["user_id"] == str(bob.id)


async def test_owner_change(client: httpx.AsyncClient, make_user: UserFactory, api: Api) -> None:
    admin = await make_user("admin")
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    carol = await make_user(username="carol")
    team = await api.create_channel(ada, "team", type_="private", members=(bob,))

    r = await post(client, admin, f"{team['id']}/owner", {"user_id": str(carol.id)})
    assert r.status_code == 200, r.text
    assert r.json()["owner"] == {"id": str(carol.id), "username": "carol"}
    assert r.json()["member_count"] == 3
    r = await client.get(f"/api/channels/{team['id']}/members", headers=carol.headers)
    roles = {m["user"]["username"]: m["role"] for m in r.json()["members"]}
    assert roles == {"ada": "member", "bob": "member", "carol": "admin"}
    # The new owner manages the channel; the previous one no longer does.
    r = await client.patch(
        f"/api/channels/{team['id']}", headers=carol.headers, json={"topic": "t"}
    )
    assert r.status_code == 200, r.text
    r = await client.patch(f"/api/channels/{team['id']}", headers=ada.headers, json={"topic": "x"})
    assert r.status_code == 403

    r = await post(client, admin, f"{team['id']}/owner", {"user_id": str(bob.id)})
    assert r.status_code == 200, r.text
    entries = await audit(client, admin, action="channel.owner_changed", target=team["id"])
    assert [(e["details"]["before"], e["details"]["after"]) for e in entries] == [
        ({"owner_id": str(carol.id)}, {"owner_id": str(bob.id)}),
        ({"owner_id": str(ada.id)}, {"owner_id": str(carol.id)}),
    ]

    r = await post(client, admin, f"{team['id']}/owner", {"user_id": UNKNOWN})
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
    r = await post(client, admin, f"{UNKNOWN}/owner", {"user_id": str(bob.id)})
    assert r.status_code == 404 and r.json()["error"]["code"] == "channel_not_found"


async def test_public_to_private_hides_it_from_non_members_at_once(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    admin = await make_user("admin")
    ada = await make_user()
    eve = await make_user()
    town = await api.create_channel(ada, "town")
    await api.send(ada, town["id"], "zebra crossing")

    async def eve_search() -> list[str]:
        r = await client.get("/api/search/messages", headers=eve.headers, params={"q": "zebra"})
        assert r.status_code == 200, r.text
        return [m["text"] for m in r.json()["messages"]]

    assert (await api.channel(eve, town["id"]))["type"] == "public"
    assert await eve_search() == ["zebra crossing"]
    gql = await gql_socket(live, eve)
    try:
        await message(gql, "connection_ack")
        await subscribe(gql, "m", MESSAGE_CREATED, c=town["id"])
        await asyncio.sleep(0.3)  # the subscription registers with the hub
        await api.send(ada, town["id"], "while public")
        # A message sent just before the stream registered may come first (the hub reads
        # it after the registration): what counts is that the stream carries the channel.
        texts: list[str] = []
        while "while public" not in texts:
            seen = await message(gql, "next")
            texts.append(seen["payload"]["data"]["messageCreated"]["text"])
        assert set(texts) <= {"zebra crossing", "while public"}

        r = await post(client, admin, f"{town['id']}/visibility", {"private": True})
        assert r.status_code == 200, r.text
        assert r.json()["type"] == "private" and r.json()["private"] is True
        ended = await message(gql, "next")
        assert ended["payload"]["errors"][0]["extensions"]["code"] == "channel_not_found"
        await api.send(ada, town["id"], "zebra once private")
    finally:
        await gql.close()

    for path in ("", "/messages"):
        r = await client.get(f"/api/channels/{town['id']}{path}", headers=eve.headers)
        assert r.status_code == 404, r.text
    assert await eve_search() == []
    r = await client.post(f"/api/channels/{town['id']}/join", headers=eve.headers)
    assert r.status_code == 404
    assert len((await api.history(ada, town["id"]))["messages"]) == 3  # members keep it

    [entry] = await audit(client, admin, action="channel.visibility_changed")
    assert entry["details"]["before"] == {"type": "public"}
    assert entry["details"]["after"] == {"type": "private"}


async def test_private_to_public_opens_it(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    admin = await make_user("admin")
    ada = await make_user()
    eve = await make_user()
    room = await api.create_channel(ada, "room", type_="private")
    r = await client.get(f"/api/channels/{room['id']}", headers=eve.headers)
    assert r.status_code == 404
    r = await post(client, admin, f"{room['id']}/visibility", {"private": False})
    assert r.status_code == 200, r.text
    assert (await api.channel(eve, room["id"]))["type"] == "public"
    r = await client.post(f"/api/channels/{room['id']}/join", headers=eve.headers)
    assert r.status_code == 200, r.text
    # Setting what already holds changes and records nothing.
    r = await post(client, admin, f"{room['id']}/visibility", {"private": False})
    assert r.status_code == 200
    assert len(await audit(client, admin, action="channel.visibility_changed")) == 1


@pytest.mark.parametrize("role", ["guest", "member", "moderator"])
async def test_below_admin_is_refused(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, role: str
) -> None:
    ada = await make_user()
    user = await make_user(role)
    channel = await api.create_channel(ada, "mine")
    cid = channel["id"]
    calls = [
        client.get(BASE, headers=user.headers),
        post(client, user, f"{cid}/archive"),
        post(client, user, f"{cid}/unarchive"),
        client.delete(f"{BASE}/{cid}", headers=user.headers),
        post(client, user, f"{cid}/owner", {"user_id": str(user.id)}),
        post(client, user, f"{cid}/visibility", {"private": True}),
        # Unknown ids are refused the same way: the caller learns nothing of what exists.
        post(client, user, f"{UNKNOWN}/archive"),
    ]
    for call in calls:
        r = await call
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "forbidden"
    assert (await api.channel(ada, cid))["archived"] is False


async def test_bad_input_is_422(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    admin = await make_user("owner")
    ada = await make_user()
    cid = (await api.create_channel(ada, "c"))["id"]
    bad = [
        client.get(BASE, headers=admin.headers, params={"kind": "lounge"}),
        client.get(BASE, headers=admin.headers, params={"limit": 0}),
        client.get(BASE, headers=admin.headers, params={"limit": 201}),
        client.get(BASE, headers=admin.headers, params={"cursor": "nope"}),
        client.get(BASE, headers=admin.headers, params={"q": "x" * 81}),
        post(client, admin, "not-an-id/archive"),
        post(client, admin, f"{cid}/owner", {"user_id": "nope"}),
        post(client, admin, f"{cid}/owner", {}),
        post(client, admin, f"{cid}/visibility", {"private": "yes"}),
        post(client, admin, f"{cid}/visibility", {"private": True, "extra": 1}),
    ]
    for call in bad:
        r = await call
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "validation_error"


async def test_unknown_channels_are_404(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    admin = await make_user("admin")
    for r in (
        await post(client, admin, f"{UNKNOWN}/archive"),
        await post(client, admin, f"{UNKNOWN}/unarchive"),
        await client.delete(f"{BASE}/{UNKNOWN}", headers=admin.headers),
        await post(client, admin, f"{UNKNOWN}/owner", {"user_id": str(admin.id)}),
        await post(client, admin, f"{UNKNOWN}/visibility", {"private": True}),
    ):
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "channel_not_found"


async def test_a_demotion_to_guest_ends_a_public_channel_stream_of_a_non_member(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    admin = await make_user("admin")
    ada = await make_user()
    eve = await make_user()
    town = await api.create_channel(ada, "town")
    gql = await gql_socket(live, eve)
    try:
        await message(gql, "connection_ack")
        await subscribe(gql, "m", MESSAGE_CREATED, c=town["id"])
        await asyncio.sleep(0.3)  # the subscription registers with the hub
        await api.send(ada, town["id"], "while a member")
        seen = await message(gql, "next")
        assert seen["payload"]["data"]["messageCreated"]["text"] == "while a member"

        # Guests see only the channels they were added to: the stream ends at once, not
        # when eve's access token runs out.
        r = await client.post(
            f"/api/admin/users/{eve.id}/role", headers=admin.headers, json={"role": "guest"}
        )
        assert r.status_code == 200, r.text
        ended = await message(gql, "next")
        assert ended["payload"]["errors"][0]["extensions"]["code"] == "channel_not_found"
    finally:
        await gql.close()
