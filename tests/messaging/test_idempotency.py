"""Idempotency keys: a `client_id` is unique per user and channel; a sync `client_op_id` is
unique per user. A retry gets the first result; the same key for something else is refused
and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api

COUNT = sa.text("SELECT count(*) FROM nchat_messages WHERE user_id = :u")


async def _send(
    client: httpx.AsyncClient, user: MadeUser, channel_id: str, text: str, **extra: Any
) -> httpx.Response:
    body = {"channel_id": channel_id, "text": text, **extra}
    return await client.post("/api/messages", headers=user.headers, json=body)


async def _count(engine: AsyncEngine, user: MadeUser) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(COUNT, {"u": user.id}) or 0)


async def test_a_client_id_reused_in_another_channel_is_another_message(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    first = await api.create_channel(ada, "first")
    second = await api.create_channel(ada, "second")
    a = await _send(client, ada, first["id"], "hello", client_id="k1")
    b = await _send(client, ada, second["id"], "hello", client_id="k1")
    assert (a.status_code, b.status_code) == (201, 201), b.text
    assert b.json()["channel_id"] == second["id"] and b.json()["id"] != a.json()["id"]
    # Each channel's retry gets its own message back.
    again = await _send(client, ada, second["id"], "hello", client_id="k1")
    assert again.status_code == 200 and again.json()["id"] == b.json()["id"]
    assert [m["text"] for m in (await api.history(ada, second["id"]))["messages"]] == ["hello"]


async def test_the_same_key_for_other_text_or_thread_is_409_and_writes_nothing(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    ada = await make_user()
    channel = await api.create_channel(ada, "keys")
    cid = channel["id"]
    root = await api.send(ada, cid, "a thread")
    first = await _send(client, ada, cid, "hello", client_id="k2")
    assert first.status_code == 201
    before = await _count(engine, ada)

    for changed in ({"text": "hello, edited"}, {"text": "hello", "thread_id": root["id"]}):
        body = {"channel_id": cid, "client_id": "k2", **changed}
        r = await client.post("/api/messages", headers=ada.headers, json=body)
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "client_id_reused"
        assert error["details"]["message_id"] == first.json()["id"]
    assert await _count(engine, ada) == before

    # A reply keyed like an earlier reply of the same thread is that reply.
    reply = await _send(client, ada, cid, "re", client_id="k3", thread_id=root["id"])
    again = await _send(client, ada, cid, "re", client_id="k3", thread_id=root["id"])
    assert (reply.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == reply.json()["id"]


async def test_a_retry_after_an_edit_still_gets_the_message(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    cid = (await api.create_channel(ada, "edits"))["id"]
    first = await _send(client, ada, cid, "typo", client_id="k4")
    mid = first.json()["id"]
    r = await client.put(f"/api/messages/{mid}", headers=ada.headers, json={"text": "fixed"})
    assert r.status_code == 200
    again = await _send(client, ada, cid, "typo", client_id="k4")
    assert again.status_code == 200, again.text
    assert again.json()["id"] == mid and again.json()["text"] == "fixed"
    assert (await _send(client, ada, cid, "fixed", client_id="k4")).status_code == 409


async def test_graphql_send_keys_per_channel_too(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    one = (await api.create_channel(ada, "g1"))["id"]
    two = (await api.create_channel(ada, "g2"))["id"]
    mutation = (
        "mutation($c: ID!, $t: String!) { sendMessage(channelId: $c, text: $t, clientId: "
        '"g") { id channelId } }'
    )

    async def send(channel_id: str, text: str) -> dict[str, Any]:
        variables = {"c": channel_id, "t": text}
        r = await client.post(
            "/graphql", headers=ada.headers, json={"query": mutation, "variables": variables}
        )
        body: dict[str, Any] = r.json()
        return body

    a = (await send(one, "x"))["data"]["sendMessage"]
    b = (await send(two, "x"))["data"]["sendMessage"]
    assert a["id"] != b["id"] and b["channelId"] == two
    refused = await send(two, "y")
    assert refused["errors"][0]["extensions"]["code"] == "client_id_reused"


async def _queue(
    client: httpx.AsyncClient, user: MadeUser, ops: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    r = await client.post("/api/sync/queue", headers=user.headers, json={"operations": ops})
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


def _send_op(op_id: str, channel_id: str, text: str) -> dict[str, Any]:
    payload = {"channel_id": channel_id, "text": text}
    return {"client_op_id": op_id, "type": "message.send", "payload": payload}


async def test_a_sync_op_id_reused_for_another_operation_is_rejected(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    ada = await make_user()
    first = (await api.create_channel(ada, "s1"))["id"]
    second = (await api.create_channel(ada, "s2"))["id"]
    [applied] = await _queue(client, ada, [_send_op("op", first, "offline")])
    assert applied["status"] == "applied"
    before = await _count(engine, ada)

    # Replayed as it was (key order aside): the first result again.
    reordered = {"client_op_id": "op", "type": "message.send", "payload": {}}
    reordered["payload"] = {"text": "offline", "channel_id": first}
    [dup] = await _queue(client, ada, [reordered])
    assert dup["status"] == "duplicate" and dup["result"]["id"] == applied["result"]["id"]

    # The id again for another channel, other text, another type: refused, nothing written.
    others = [
        _send_op("op", second, "offline"),
        _send_op("op", first, "other words"),
        {"client_op_id": "op", "type": "channel.leave", "payload": {"channel_id": first}},
    ]
    for result in await _queue(client, ada, others):
        assert result["status"] == "rejected"
        assert result["error"]["code"] == "client_op_id_reused"
        assert result["result"] is None
    assert await _count(engine, ada) == before
    assert (await api.history(ada, second))["messages"] == []
    # The first record is untouched: its replay still answers with its result.
    [dup] = await _queue(client, ada, [_send_op("op", first, "offline")])
    assert dup["status"] == "duplicate" and dup["result"]["id"] == applied["result"]["id"]


async def test_a_queued_send_keyed_like_an_online_send_follows_its_rules(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    cid = (await api.create_channel(ada, "mixed"))["id"]
    online = await _send(client, ada, cid, "sent online", client_id="same")
    [replayed, clash] = await _queue(
        client, ada, [_send_op("same", cid, "sent online"), _send_op("x", cid, "x")]
    )
    assert replayed["status"] == "applied"
    assert replayed["result"]["id"] == online.json()["id"]
    await _send(client, ada, cid, "sent online too", client_id="other")
    [refused] = await _queue(client, ada, [_send_op("other", cid, "different")])
    assert refused["status"] == "rejected"
    assert refused["error"]["code"] == "client_id_reused"
    assert clash["status"] == "applied"
