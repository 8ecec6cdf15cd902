from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.db import transaction as transaction_module
from nchat.messages.schemas import MessageList
from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api

UNKNOWN = "01a21496-2bae-71f5-95d2-b19f8c740328"


async def test_history_pages_before_after_around(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    channel = await api.create_channel(ada, "log")
    sent = [await api.send(ada, channel["id"], f"m{i}") for i in range(12)]
    ids = [m["id"] for m in sent]

    newest = await api.history(ada, channel["id"], limit=5)
    assert [m["id"] for m in newest["messages"]] == ids[::-1][:5] and newest["has_more"]
    older = await api.history(ada, channel["id"], limit=5, before=ids[7])
    assert [m["id"] for m in older["messages"]] == ids[2:7][::-1]
    forward = await api.history(ada, channel["id"], limit=5, after=ids[2])
    assert [m["id"] for m in forward["messages"]] == ids[3:8]
    around = await api.history(ada, channel["id"], limit=5, around=ids[6])
    assert [m["id"] for m in around["messages"]] == ids[4:9][::-1]
    r = await client.get(
        f"/api/channels/{channel['id']}/messages",
        headers=ada.headers,
        params={"before": ids[3], "after": ids[1]},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_page"
    r = await client.get(
        f"/api/channels/{channel['id']}/messages", headers=ada.headers, params={"limit": 201}
    )
    assert r.status_code == 422


async def test_paging_back_is_stable_while_others_post(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    bob = await make_user()
    channel = await api.create_channel(ada, "busy", members=(bob,))
    original = [(await api.send(ada, channel["id"], f"old {i}"))["id"] for i in range(30)]

    async def chatter() -> None:
        for i in range(20):
            await api.send(bob, channel["id"], f"new {i}")

    async def page_back() -> list[str]:
        seen: list[str] = []
        before = original[-1]
        seen.append(before)
        while True:
            page = await api.history(ada, channel["id"], before=before, limit=7)
            seen += [m["id"] for m in page["messages"]]
            if not page["has_more"]:
                return seen
            before = page["messages"][-1]["id"]

    _, seen = await asyncio.gather(chatter(), page_back())
    assert seen == original[::-1]


async def test_idempotent_send_returns_the_first_message(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    channel = await api.create_channel(ada, "idem")
    first = await client.post(
        "/api/messages",
        headers=ada.headers,
        json={"channel_id": channel["id"], "text": "hello", "client_id": "abc"},
    )
    again = await client.post(
        "/api/messages",
        headers=ada.headers,
        json={"channel_id": channel["id"], "text": "hello", "client_id": "abc"},
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    # The same client_id from another user is another message.
    bob = await make_user()
    await client.post(f"/api/channels/{channel['id']}/join", headers=bob.headers)
    other = await client.post(
        "/api/messages",
        headers=bob.headers,
        json={"channel_id": channel["id"], "text": "hi", "client_id": "abc"},
    )
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


async def test_read_marker_never_moves_back_and_counts_are_exact(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    channel = await api.create_channel(ada, "counts", members=(bob,))
    cid = channel["id"]
    plain = [await api.send(ada, cid, f"plain {i}") for i in range(3)]
    mention = await api.send(ada, cid, "hey @bob")
    await api.send(ada, cid, "everyone: @channel")
    await api.send(bob, cid, "my own message is never unread")
    view = await api.channel(bob, cid)
    assert (view["unread_count"], view["mention_count"]) == (5, 2)

    r = await client.post(
        f"/api/channels/{cid}/read", headers=bob.headers, json={"message_id": mention["id"]}
    )
    assert (r.json()["unread_count"], r.json()["mention_count"]) == (1, 1)
    r = await client.post(
        f"/api/channels/{cid}/read", headers=bob.headers, json={"message_id": plain[0]["id"]}
    )
    assert r.json()["last_read_id"] == mention["id"]  # never backwards
    # A deleted unread message stops counting.
    latest = (await api.history(ada, cid, limit=2))["messages"][1]
    await client.delete(f"/api/messages/{latest['id']}", headers=ada.headers)
    view = await api.channel(bob, cid)
    assert (view["unread_count"], view["mention_count"]) == (0, 0)
    r = await client.post(
        f"/api/channels/{cid}/read", headers=bob.headers, json={"message_id": UNKNOWN}
    )
    assert r.status_code == 404


async def _state(
    client: httpx.AsyncClient, api: Api, user: MadeUser, cid: str
) -> tuple[int, int, datetime | None]:
    """(unread, mentions, newest message's time) of one channel, the same through the
    channel view, the REST list and the GraphQL list."""
    view = await api.channel(user, cid)
    listed = (await client.get("/api/channels?member=true", headers=user.headers)).json()
    [in_list] = [c for c in listed["channels"] if c["id"] == cid]
    query = "{ channels(member: true) { id unreadCount mentionCount lastMessageAt } }"
    r = await client.post("/graphql", headers=user.headers, json={"query": query})
    [in_graph] = [c for c in r.json()["data"]["channels"] if c["id"] == cid]

    def at(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    def rest(c: dict[str, Any]) -> tuple[int, int, datetime | None]:
        return c["unread_count"], c["mention_count"], at(c["last_message_at"])

    state = rest(view)
    assert rest(in_list) == state
    assert (
        in_graph["unreadCount"],
        in_graph["mentionCount"],
        at(in_graph["lastMessageAt"]),
    ) == state
    return state


async def test_mention_counts_through_replies_edits_deletes_and_a_rejoin(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    """Mentions are counted only where the member's newest mention is past the read marker;
    the database keeps that mark for every way a mention is written (decision 0021)."""
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    cid = (await api.create_channel(ada, "marks", members=(bob,)))["id"]

    async def read(message: dict[str, Any]) -> None:
        r = await client.post(
            f"/api/channels/{cid}/read", headers=bob.headers, json={"message_id": message["id"]}
        )
        assert r.status_code == 200, r.text

    root = await api.send(ada, cid, "a thread starts")
    await read(root)
    assert (await _state(client, api, bob, cid))[:2] == (0, 0)
    await api.send(ada, cid, "@bob in the thread", thread_id=root["id"])
    assert (await _state(client, api, bob, cid))[:2] == (0, 1)  # replies are not unread

    plain = await api.send(ada, cid, "nothing for bob")
    r = await client.put(
        f"/api/messages/{plain['id']}", headers=ada.headers, json={"text": "now @bob too"}
    )
    assert r.status_code == 200, r.text
    assert (await _state(client, api, bob, cid))[:2] == (1, 2)
    await read(plain)
    assert (await _state(client, api, bob, cid))[:2] == (0, 0)

    gone = await api.send(ada, cid, "@bob, soon deleted")
    assert (await _state(client, api, bob, cid))[:2] == (1, 1)
    r = await client.delete(f"/api/messages/{gone['id']}", headers=ada.headers)
    assert r.status_code == 204, r.text
    assert (await _state(client, api, bob, cid))[:2] == (0, 0)

    # Back after leaving, bob has no read marker: what mentioned him counts again.
    assert (await client.post(f"/api/channels/{cid}/leave", headers=bob.headers)).is_success
    assert (await client.post(f"/api/channels/{cid}/join", headers=bob.headers)).is_success
    assert (await _state(client, api, bob, cid))[:2] == (2, 2)


async def test_newest_message_time_with_the_marker_on_it_deleted_or_in_a_thread(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    cid = (await api.create_channel(ada, "newest", members=(bob,)))["id"]
    assert await _state(client, api, bob, cid) == (0, 0, None)
    first = await api.send(ada, cid, "first")
    second = await api.send(ada, cid, "second")

    def at(message: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(message["created_at"])

    r = await client.post(
        f"/api/channels/{cid}/read", headers=bob.headers, json={"message_id": second["id"]}
    )
    assert r.status_code == 200, r.text
    assert await _state(client, api, bob, cid) == (0, 0, at(second))
    r = await client.delete(f"/api/messages/{second['id']}", headers=ada.headers)
    assert r.status_code == 204, r.text
    assert await _state(client, api, bob, cid) == (0, 0, at(first))
    reply = await api.send(ada, cid, "in a thread", thread_id=first["id"])
    r = await client.post(
        f"/api/channels/{cid}/read", headers=bob.headers, json={"message_id": reply["id"]}
    )
    assert r.status_code == 200, r.text
    assert await _state(client, api, bob, cid) == (0, 0, at(first))
    third = await api.send(ada, cid, "third")
    assert await _state(client, api, bob, cid) == (1, 0, at(third))


async def test_delete_rules_and_soft_delete_placeholder(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    ada = await make_user()
    bob = await make_user()
    mod = await make_user("moderator")
    admin = await make_user("admin")
    channel = await api.create_channel(ada, "rules", members=(bob, mod, admin))
    by_ada = await api.send(ada, channel["id"], "ada's")
    by_bob = await api.send(bob, channel["id"], "bob's")
    assert (
        await client.delete(f"/api/messages/{by_ada['id']}", headers=bob.headers)
    ).status_code == 403
    assert (
        await client.delete(f"/api/messages/{by_ada['id']}", headers=mod.headers)
    ).status_code == 204
    assert (
        await client.delete(f"/api/messages/{by_ada['id']}", headers=mod.headers)
    ).status_code == 404
    placeholder = (await client.get(f"/api/messages/{by_ada['id']}", headers=bob.headers)).json()
    assert placeholder["text"] is None and placeholder["deleted_at"] is not None
    r = await client.put(
        f"/api/messages/{by_ada['id']}", headers=ada.headers, json={"text": "resurrect"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "message_deleted"
    assert (
        await client.delete(f"/api/messages/{by_bob['id']}?hard=true", headers=mod.headers)
    ).status_code == 403
    assert (
        await client.delete(f"/api/messages/{by_bob['id']}?hard=true", headers=admin.headers)
    ).status_code == 204
    assert (
        await client.get(f"/api/messages/{by_bob['id']}", headers=ada.headers)
    ).status_code == 404
    async with engine.connect() as conn:
        soft = await conn.scalar(
            sa.text("SELECT count(*) FROM nchat_messages WHERE deleted_at IS NOT NULL")
        )
        total = await conn.scalar(sa.text("SELECT count(*) FROM nchat_messages"))
    assert (soft, total) == (1, 1)


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"text": ""}, 422, "validation_error"),
        ({"text": "   "}, 422, "validation_error"),
        ({"text": "x" * 40_001}, 422, "validation_error"),
        ({"text": "ok", "thread_id": UNKNOWN}, 404, "thread_not_found"),
        ({"text": "ok", "channel_id": UNKNOWN}, 404, "channel_not_found"),
        ({"text": "ok", "channel_id": "not-a-uuid"}, 422, "validation_error"),
        ({"text": "ok", "client_id": "x" * 129}, 422, "validation_error"),
        ({"text": 5}, 422, "validation_error"),
    ],
)
async def test_bad_sends_change_nothing(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    engine: AsyncEngine,
    payload: dict[str, object],
    status: int,
    code: str,
) -> None:
    ada = await make_user()
    channel = await api.create_channel(ada, "strict")
    body = {"channel_id": channel["id"], **payload}
    r = await client.post("/api/messages", headers=ada.headers, json=body)
    assert r.status_code == status and r.json()["error"]["code"] == code
    async with engine.connect() as conn:
        assert await conn.scalar(sa.text("SELECT count(*) FROM nchat_messages")) == 0


async def test_longest_text_is_stored_as_sent(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    channel = await api.create_channel(ada, "long")
    text = "# Title\n\n" + "é" * 39_991
    sent = await api.send(ada, channel["id"], text)
    assert sent["text"] == text


async def test_reply_rules_and_emoji_limits(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    channel = await api.create_channel(ada, "replies")
    other = await api.create_channel(ada, "elsewhere")
    root = await api.send(ada, channel["id"], "root")
    reply = await api.send(ada, channel["id"], "reply", thread_id=root["id"])
    r = await client.post(
        "/api/messages",
        headers=ada.headers,
        json={"channel_id": channel["id"], "text": "nested", "thread_id": reply["id"]},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "thread_not_root"
    r = await client.post(
        "/api/messages",
        headers=ada.headers,
        json={"channel_id": other["id"], "text": "cross", "thread_id": root["id"]},
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "thread_not_found"
    url = f"/api/messages/{root['id']}/reactions"
    for emoji in ["", "x" * 65, "two words", "\u0007"]:
        r = await client.post(url, headers=ada.headers, json={"emoji": emoji})
        assert r.status_code == 422, emoji
    r = await client.request("DELETE", url, headers=ada.headers, json={"emoji": ":nope:"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "reaction_not_found"
    for emoji in ["👍🏽", ":+1:", "👨‍👩‍👧"]:
        r = await client.post(url, headers=ada.headers, json={"emoji": emoji})
        assert r.status_code == 200, emoji
    assert [x["emoji"] for x in r.json()["reactions"]] == ["👍🏽", ":+1:", "👨‍👩‍👧"]


async def test_mentions_list_and_bookmarks_follow_visibility(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    channel = await api.create_channel(ada, "private-talk", type_="private", members=(bob,))
    note = await api.send(ada, channel["id"], "@bob look at this, not @nobody or a@bob.com")
    assert note["mentions"]["user_ids"] == [str(bob.id)]
    await client.post(f"/api/messages/{note['id']}/bookmark", headers=bob.headers)
    assert len((await client.get("/api/mentions", headers=bob.headers)).json()["messages"]) == 1
    await client.delete(f"/api/channels/{channel['id']}/members/{bob.id}", headers=ada.headers)
    assert (await client.get("/api/mentions", headers=bob.headers)).json()["messages"] == []
    assert (await client.get("/api/bookmarks", headers=bob.headers)).json()["messages"] == []
    assert (await client.get(f"/api/messages/{note['id']}", headers=bob.headers)).status_code == 404


async def test_reads_and_sends_run_without_begin_and_commit(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GETs and the send take no transaction of their own (fewer round trips); other writes
    keep theirs. The request boundary is wrapped, not replaced, to see which it chose."""
    seen: list[tuple[str, bool]] = []
    original = transaction_module.app_transaction

    def recording(app: Any, *, autocommit: bool = False) -> Any:
        seen.append((current[0], autocommit))
        return original(app, autocommit=autocommit)

    current = [""]
    monkeypatch.setattr(transaction_module, "app_transaction", recording)
    ada = await make_user()
    current[0] = "create channel"
    channel = await api.create_channel(ada, "modes")
    current[0] = "send"
    await api.send(ada, channel["id"], "hello")
    current[0] = "history"
    await api.history(ada, channel["id"])
    assert seen == [("create channel", False), ("send", True), ("history", True)]


async def test_history_json_is_exactly_the_model(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    """A history page is serialized straight from its fields (for speed); what it sends must
    be what the MessageList model would send, field for field and format for format."""
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    cid = (await api.create_channel(ada, "exact", members=(bob,)))["id"]
    plain = await api.send(ada, cid, "plain **markdown**", client_id="c-1")
    root = await api.send(bob, cid, "@ada @channel a thread")
    await api.send(ada, cid, "a reply", thread_id=root["id"])
    edited = await api.send(ada, cid, "before the edit")
    gone = await api.send(bob, cid, "@ada soon deleted")
    for path, body in (
        (f"/api/messages/{plain['id']}/reactions", {"emoji": ":tada:"}),
        (f"/api/messages/{root['id']}/pin", None),
    ):
        r = await client.post(path, headers=bob.headers, json=body)
        assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/messages/{plain['id']}/reactions", headers=ada.headers, json={"emoji": "👍"}
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        f"/api/messages/{edited['id']}", headers=ada.headers, json={"text": "after the edit"}
    )
    assert r.status_code == 200, r.text
    assert (await client.delete(f"/api/messages/{gone['id']}", headers=bob.headers)).is_success

    pages = [{}, {"limit": 2}, {"before": gone["id"]}, {"after": plain["id"]}]
    pages.append({"around": root["id"], "limit": 3})
    for params in pages:
        r = await client.get(f"/api/channels/{cid}/messages", headers=ada.headers, params=params)
        assert r.status_code == 200, r.text
        assert r.text == MessageList.model_validate(r.json()).model_dump_json(), params
    page = (await api.history(ada, cid))["messages"]
    by_id = {m["id"]: m for m in page}
    reactions = sorted(by_id[plain["id"]]["reactions"], key=lambda x: x["emoji"])
    assert reactions == [
        {"emoji": ":tada:", "count": 1, "me": False},
        {"emoji": "👍", "count": 1, "me": True},
    ]
    assert by_id[plain["id"]]["client_id"] == "c-1"
    assert by_id[root["id"]]["reply_count"] == 1 and by_id[root["id"]]["pinned"] is True
    assert set(by_id[root["id"]]["participants"]) == {str(ada.id), str(bob.id)}
    assert by_id[root["id"]]["mentions"] == {
        "user_ids": [str(ada.id)],
        "channel": True,
        "here": False,
    }
    assert by_id[edited["id"]]["text"] == "after the edit" and by_id[edited["id"]]["edited_at"]
    deleted = by_id[gone["id"]]
    assert (deleted["text"], deleted["mentions"]["user_ids"], deleted["reactions"]) == (
        None,
        [],
        [],
    )
    assert deleted["deleted_at"] is not None
    # The same page through the model (GraphQL's path) carries the same values.
    query = "query($c: ID!) { messages(channelId: $c) { id text replyCount pinned } }"
    r = await client.post(
        "/graphql", headers=ada.headers, json={"query": query, "variables": {"c": cid}}
    )
    assert [
        (m["id"], m["text"], m["replyCount"], m["pinned"]) for m in r.json()["data"]["messages"]
    ] == [(m["id"], m["text"], m["reply_count"], m["pinned"]) for m in page]
