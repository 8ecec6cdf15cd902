from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.channels.schemas import ChannelList
from tests.fixtures.factories import UserFactory
from tests.messaging.helpers import Api


@pytest.mark.parametrize("name", ["UPPER", "with space", "dot.name", "x" * 81, "", "ümlaut"])
async def test_channel_name_rules(
    client: httpx.AsyncClient, make_user: UserFactory, name: str
) -> None:
    ada = await make_user()
    r = await client.post("/api/channels", headers=ada.headers, json={"name": name})
    assert r.status_code == 422
    assert (await client.get("/api/channels", headers=ada.headers)).json()["channels"] == []


async def test_names_are_unique_and_dm_types_need_the_dm_endpoint(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    await api.create_channel(ada, "dev-team_1")
    r = await client.post("/api/channels", headers=ada.headers, json={"name": "dev-team_1"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "channel_name_taken"
    r = await client.post(
        "/api/channels", headers=ada.headers, json={"name": "dm", "type": "direct"}
    )
    assert r.status_code == 422


async def test_group_dm_size_limit_and_unknown_users(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    ada = await make_user()
    others = [await make_user() for _ in range(8)]
    r = await client.post(
        "/api/channels/direct", headers=ada.headers, json={"user_ids": [str(o.id) for o in others]}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "too_many_members"
    r = await client.post(
        "/api/channels/direct",
        headers=ada.headers,
        json={"user_ids": ["01a21496-2bae-71f5-95d2-b19f8c740328"]},
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
    r = await client.post(
        "/api/channels/direct",
        headers=ada.headers,
        json={"user_ids": [str(o.id) for o in others[:7]]},
    )
    assert r.status_code == 201
    assert r.json()["type"] == "group" and r.json()["member_count"] == 8
    assert len(r.json()["dm_members"]) == 8


async def test_list_filters_and_pagination(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    bob = await make_user()
    for i in range(5):
        await api.create_channel(ada, f"pub-{i}")
    mine = await api.create_channel(bob, "bobs-private", type_="private", members=(ada,))
    await api.create_channel(bob, "bobs-secret", type_="private")
    archived = await api.create_channel(ada, "old-stuff")
    assert (await client.delete(f"/api/channels/{archived['id']}", headers=ada.headers)).json()[
        "archived"
    ] is True

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/channels", params=params, headers=ada.headers)).json()
        seen += [c["name"] for c in page["channels"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted([f"pub-{i}" for i in range(5)] + ["bobs-private"])

    def names(resp: httpx.Response) -> list[str]:
        return sorted(c["name"] for c in resp.json()["channels"])

    assert names(
        await client.get("/api/channels", params={"type": "private"}, headers=ada.headers)
    ) == ["bobs-private"]
    assert names(await client.get("/api/channels", params={"q": "pub-3"}, headers=ada.headers)) == [
        "pub-3"
    ]
    assert names(
        await client.get("/api/channels", params={"archived": "true"}, headers=ada.headers)
    ) == ["old-stuff"]
    member_of = names(
        await client.get("/api/channels", params={"member": "true"}, headers=bob.headers)
    )
    assert member_of == ["bobs-private", "bobs-secret"]
    assert mine["member_count"] == 2


async def test_list_filters_combine_and_take_names_literally(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    bob = await make_user()
    for name in ("a_b", "axb", "team-a_b"):
        await api.create_channel(bob, name)
    await api.create_channel(bob, "a_b-private", type_="private", members=(ada,))
    await client.post(
        f"/api/channels/{(await api.create_channel(bob, 'a_b-joined'))['id']}/join",
        headers=ada.headers,
    )

    async def names(**params: str | int) -> list[str]:
        r = await client.get("/api/channels", params=params, headers=ada.headers)
        assert r.status_code == 200, r.text
        return sorted(c["name"] for c in r.json()["channels"])

    # `_` and `%` in the query are characters, not wildcards.
    assert await names(q="a_b") == ["a_b", "a_b-joined", "a_b-private", "team-a_b"]
    assert await names(q="a%b") == []
    assert await names(q="a_b", type="private") == ["a_b-private"]
    assert await names(q="a_b", member="false") == ["a_b", "team-a_b"]
    assert await names(member="true") == ["a_b-joined", "a_b-private"]
    assert await names(member="true", type="public") == ["a_b-joined"]

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 1, "member": "true"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/channels", params=params, headers=ada.headers)).json()
        assert len(page["channels"]) <= 1
        seen += [c["name"] for c in page["channels"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == ["a_b-joined", "a_b-private"]


async def test_settings_archive_and_read_only(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    bob = await make_user()
    channel = await api.create_channel(ada, "news", members=(bob,))
    cid = channel["id"]
    r = await client.patch(f"/api/channels/{cid}", headers=bob.headers, json={"topic": "x"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_channel_admin"
    r = await client.patch(
        f"/api/channels/{cid}",
        headers=ada.headers,
        json={"topic": "Daily news", "name": "daily-news", "read_only": True},
    )
    assert r.status_code == 200
    assert (r.json()["topic"], r.json()["name"], r.json()["read_only"]) == (
        "Daily news",
        "daily-news",
        True,
    )
    r = await client.post(
        "/api/messages", headers=bob.headers, json={"channel_id": cid, "text": "hi"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "channel_read_only"
    await client.patch(f"/api/channels/{cid}", headers=ada.headers, json={"read_only": False})
    await api.send(bob, cid, "now I can")
    assert (await client.delete(f"/api/channels/{cid}", headers=bob.headers)).status_code == 403
    assert (await client.delete(f"/api/channels/{cid}", headers=ada.headers)).status_code == 200
    r = await client.post(
        "/api/messages", headers=bob.headers, json={"channel_id": cid, "text": "hi"}
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "channel_archived"
    history = await api.history(bob, cid)
    assert [m["text"] for m in history["messages"]] == ["now I can"]
    r = await client.patch(f"/api/channels/{cid}", headers=ada.headers, json={"archived": False})
    assert r.json()["archived"] is False


async def test_membership_management(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    bob = await make_user()
    cy = await make_user()
    mod = await make_user("moderator")
    channel = await api.create_channel(ada, "team", type_="private", members=(bob,))
    cid = channel["id"]
    # Any member adds people; only channel admins and moderators remove them.
    r = await client.post(
        f"/api/channels/{cid}/members", headers=bob.headers, json={"user_ids": [str(cy.id)]}
    )
    assert r.status_code == 200 and len(r.json()["members"]) == 3
    r = await client.delete(f"/api/channels/{cid}/members/{cy.id}", headers=bob.headers)
    assert r.status_code == 403
    r = await client.delete(f"/api/channels/{cid}/members/{cy.id}", headers=mod.headers)
    assert r.status_code == 404  # a moderator outside a private channel does not see it
    r = await client.put(
        f"/api/channels/{cid}/members/{bob.id}", headers=ada.headers, json={"role": "admin"}
    )
    assert r.status_code == 204
    r = await client.delete(f"/api/channels/{cid}/members/{cy.id}", headers=bob.headers)
    assert r.status_code == 204
    # A removed member no longer sees the private channel or its messages.
    assert (await client.get(f"/api/channels/{cid}", headers=cy.headers)).status_code == 404
    assert (
        await client.get(f"/api/channels/{cid}/messages", headers=cy.headers)
    ).status_code == 404
    r = await client.post(f"/api/channels/{cid}/leave", headers=bob.headers)
    assert r.status_code == 204
    r = await client.post(f"/api/channels/{cid}/join", headers=bob.headers)
    assert r.status_code == 404  # private: no joining without an invitation
    members = (await client.get(f"/api/channels/{cid}/members", headers=ada.headers)).json()
    assert [m["user"]["id"] for m in members["members"]] == [str(ada.id)]


async def test_direct_messages_cannot_be_left_or_extended(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    ada = await make_user()
    bob = await make_user()
    cy = await make_user()
    dm = (
        await client.post(
            "/api/channels/direct", headers=ada.headers, json={"user_ids": [str(bob.id)]}
        )
    ).json()
    r = await client.post(f"/api/channels/{dm['id']}/leave", headers=ada.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "channel_is_dm"
    r = await client.post(
        f"/api/channels/{dm['id']}/members", headers=ada.headers, json={"user_ids": [str(cy.id)]}
    )
    assert r.status_code == 409
    r = await client.get(f"/api/channels/{dm['id']}", headers=cy.headers)
    assert r.status_code == 404


async def test_channel_list_json_is_exactly_the_model(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    """The list is serialized straight from its fields (for speed); what it sends must be
    what the ChannelList model would send, field for field and format for format."""
    ada = await make_user()
    bob = await make_user()
    public = await api.create_channel(ada, "plain", members=(bob,))
    await api.create_channel(ada, "hidden", type_="private")
    r = await client.post(
        "/api/channels/direct", headers=ada.headers, json={"user_ids": [str(bob.id)]}
    )
    assert r.status_code in (200, 201), r.text
    sent = await api.send(bob, public["id"], "hello @" + ada.username)
    await client.post(
        f"/api/channels/{public['id']}/read", headers=bob.headers, json={"message_id": sent["id"]}
    )
    await client.delete(f"/api/channels/{public['id']}", headers=ada.headers)
    for params in ({}, {"member": "true"}, {"limit": 1}, {"archived": "true"}):
        r = await client.get("/api/channels", headers=ada.headers, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["channels"], params
        assert body == ChannelList.model_validate(body).model_dump(mode="json"), params
        assert r.text == ChannelList.model_validate(body).model_dump_json(), params
    archived = await client.get("/api/channels", headers=ada.headers, params={"archived": "true"})
    [plain] = archived.json()["channels"]
    assert plain["id"] == public["id"] and plain["archived"] is True
    assert plain["mention_count"] == 1 and plain["unread_count"] == 1
    assert plain["last_message_at"] is not None and plain["last_message_at"].endswith("Z")
    listed = (await client.get("/api/channels", headers=ada.headers)).json()["channels"]
    dm = next(c for c in listed if c["type"] == "direct")
    assert {m["username"] for m in dm["dm_members"]} == {ada.username, bob.username}


async def test_list_shows_each_committed_change_of_a_channel_it_listed_before(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    """The REST list keeps channels' shared fields per process by row version (decision
    0022): a change made anywhere, through this process, another node or psql, is a new
    version of the row and shows at once."""
    ada = await make_user()
    bob = await make_user()
    cid = (await api.create_channel(ada, "before"))["id"]

    async def listed() -> dict[str, Any]:
        r = await client.get("/api/channels", headers=ada.headers, params={"member": "true"})
        assert r.status_code == 200, r.text
        [channel] = [c for c in r.json()["channels"] if c["id"] == cid]
        # The single view reads every field from the database each time.
        assert channel == {**await api.channel(ada, cid), "dm_members": None}
        return channel

    assert (await listed())["name"] == "before"
    r = await client.patch(
        f"/api/channels/{cid}", headers=ada.headers, json={"name": "after", "topic": "new"}
    )
    assert r.status_code == 200, r.text
    assert ((await listed())["name"], (await listed())["topic"]) == ("after", "new")
    assert (await client.post(f"/api/channels/{cid}/join", headers=bob.headers)).is_success
    assert (await listed())["member_count"] == 2
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE nchat_channels SET description = 'from elsewhere' WHERE id = :id"),
            {"id": cid},
        )
    assert (await listed())["description"] == "from elsewhere"
    assert (await client.delete(f"/api/channels/{cid}", headers=ada.headers)).is_success
    r = await client.get("/api/channels", headers=ada.headers, params={"archived": "true"})
    [archived] = r.json()["channels"]
    assert archived["archived"] is True and archived["archived_at"] is not None


async def test_channel_search_folds_the_query_accents(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    await api.create_channel(ada, "cafe-talk")
    r = await client.get("/api/channels", params={"q": "Café"}, headers=ada.headers)
    assert [c["name"] for c in r.json()["channels"]] == ["cafe-talk"]
