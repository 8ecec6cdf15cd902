from __future__ import annotations

import asyncio
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api


async def push(
    client: httpx.AsyncClient, user: MadeUser, ops: list[dict[str, Any]]
) -> dict[str, Any]:
    r = await client.post("/api/sync/queue", headers=user.headers, json={"operations": ops})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_queue_applies_in_order_and_replays_never_twice(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    ada = await make_user()
    bob = await make_user()
    channel = await api.create_channel(bob, "field-notes")
    cid = channel["id"]
    ops = [
        {
            "client_op_id": "op-1",
            "type": "channel.join",
            "payload": {"channel_id": cid},
            "queued_at": "2026-11-25T10:00:00Z",
        },
        {
            "client_op_id": "op-2",
            "type": "message.send",
            "payload": {"channel_id": cid, "text": "written offline"},
        },
        {
            "client_op_id": "op-3",
            "type": "message.send",
            "payload": {"channel_id": cid, "text": "second thought"},
        },
    ]
    first = await push(client, ada, ops)
    assert [r["status"] for r in first["results"]] == ["applied"] * 3
    sent_id = first["results"][1]["result"]["id"]
    second_id = first["results"][2]["result"]["id"]
    more = [
        {
            "client_op_id": "op-4",
            "type": "message.edit",
            "payload": {"message_id": sent_id, "text": "written offline (edited)"},
        },
        {
            "client_op_id": "op-5",
            "type": "reaction.add",
            "payload": {"message_id": sent_id, "emoji": ":pencil:"},
        },
        {"client_op_id": "op-6", "type": "message.delete", "payload": {"message_id": second_id}},
        {
            "client_op_id": "op-7",
            "type": "message.edit",
            "payload": {"message_id": second_id, "text": "edit after delete"},
        },
        {
            "client_op_id": "op-8",
            "type": "channel.read",
            "payload": {"channel_id": cid, "message_id": sent_id},
        },
    ]
    # The whole queue again (the client never saw the first answer), plus the rest.
    replay = await push(client, ada, ops + more)
    statuses = [(r["client_op_id"], r["status"]) for r in replay["results"]]
    assert statuses == [
        ("op-1", "duplicate"),
        ("op-2", "duplicate"),
        ("op-3", "duplicate"),
        ("op-4", "applied"),
        ("op-5", "applied"),
        ("op-6", "applied"),
        ("op-7", "rejected"),
        ("op-8", "applied"),
    ]
    assert replay["results"][1]["result"]["id"] == sent_id
    assert replay["results"][6]["error"]["code"] == "message_deleted"
    again = await push(client, ada, more)
    assert [r["status"] for r in again["results"]] == ["duplicate"] * 5
    assert again["results"][3]["error"]["code"] == "message_deleted"

    history = await api.history(bob, cid)
    texts = [(m["text"], m["deleted_at"] is not None) for m in history["messages"]]
    assert texts == [(None, True), ("written offline (edited)", False)]
    assert history["messages"][1]["reactions"][0]["emoji"] == ":pencil:"
    async with engine.connect() as conn:
        count = await conn.scalar(
            sa.text("SELECT count(*) FROM nchat_messages WHERE channel_id = :c"), {"c": cid}
        )
    assert count == 2


async def test_rejected_ops_do_not_stop_the_rest(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    bob = await make_user()
    channel = await api.create_channel(bob, "strict", type_="private", members=(ada,))
    cid = channel["id"]
    # Ada is removed while offline; her queued post to the channel is refused.
    await client.delete(f"/api/channels/{cid}/members/{ada.id}", headers=bob.headers)
    own = await api.create_channel(ada, "mine")
    result = await push(
        client,
        ada,
        [
            {
                "client_op_id": "a",
                "type": "message.send",
                "payload": {"channel_id": cid, "text": "can anyone hear me"},
            },
            {"client_op_id": "b", "type": "message.send", "payload": {"text": "no channel"}},
            {
                "client_op_id": "c",
                "type": "message.send",
                "payload": {"channel_id": own["id"], "text": "still works"},
            },
        ],
    )
    assert [r["status"] for r in result["results"]] == ["rejected", "rejected", "applied"]
    assert result["results"][0]["error"]["code"] == "channel_not_found"
    assert result["results"][1]["error"]["code"] == "validation_error"
    assert (await api.history(bob, cid))["messages"] == []


async def test_concurrent_replays_apply_once(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    ada = await make_user()
    channel = await api.create_channel(ada, "dupes")
    ops = [
        {
            "client_op_id": f"op-{i}",
            "type": "message.send",
            "payload": {"channel_id": channel["id"], "text": f"m{i}"},
        }
        for i in range(20)
    ]
    results = await asyncio.gather(*(push(client, ada, ops) for _ in range(4)))
    for i in range(20):
        statuses = sorted(r["results"][i]["status"] for r in results)
        assert statuses == ["applied", "duplicate", "duplicate", "duplicate"]
    async with engine.connect() as conn:
        count = await conn.scalar(
            sa.text("SELECT count(*) FROM nchat_messages WHERE channel_id = :c"),
            {"c": channel["id"]},
        )
    assert count == 20


async def test_queue_limits_and_bad_ops(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    ada = await make_user()
    too_many = [
        {
            "client_op_id": f"x{i}",
            "type": "channel.join",
            "payload": {"channel_id": "01a21496-2bae-71f5-95d2-b19f8c740328"},
        }
        for i in range(501)
    ]
    r = await client.post("/api/sync/queue", headers=ada.headers, json={"operations": too_many})
    assert r.status_code == 422
    r = await client.post(
        "/api/sync/queue",
        headers=ada.headers,
        json={"operations": [{"client_op_id": "z", "type": "message.explode", "payload": {}}]},
    )
    assert r.status_code == 422


async def test_status_and_bootstrap(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    status = (await client.get("/api/sync/status", headers=ada.headers)).json()
    assert status["last_sync_at"] is None and status["pending_events"] == 0
    assert status["mobile"]["offlineCache"] == {
        "enabled": True,
        "maxMessages": 1000,
        "maxMediaSize": 524288000,
    }
    assert status["mobile"]["backgroundSync"] == {"enabled": True, "interval": 15}

    channels = [await api.create_channel(ada, f"c{i}") for i in range(3)]
    for channel in channels:
        for j in range(4):
            await api.send(ada, channel["id"], f"{channel['name']}-{j}")
    admin = await make_user("admin")
    await client.patch(
        "/api/admin/config",
        headers=admin.headers,
        json={"mobile": {"offlineCache": {"maxMessages": 6}}},
    )
    boot = (await client.get("/api/sync/bootstrap", headers=ada.headers)).json()
    assert boot["max_messages"] == 6
    assert len(boot["channels"]) == 3
    for entry in boot["channels"]:
        name = entry["channel"]["name"]
        assert [m["text"] for m in entry["messages"]] == [f"{name}-3", f"{name}-2"]
    # Syncing from the bootstrap cursor brings what happened after it. Events committed just
    # before the bootstrap may follow too (while another transaction on the server held the
    # horizon back): they only repeat state the bootstrap had.
    await api.send(ada, channels[0]["id"], "after bootstrap")
    deadline = asyncio.get_running_loop().time() + 10
    sent: list[str] = []
    cursor = boot["cursor"]
    while "after bootstrap" not in sent and asyncio.get_running_loop().time() < deadline:
        params = {"since": cursor}
        page = (await client.get("/api/sync/changes", params=params, headers=ada.headers)).json()
        sent += [e["data"]["text"] for e in page["events"] if e["type"] == "message.created"]
        cursor = page["cursor"]
        await asyncio.sleep(0.02)
    assert sent[-1] == "after bootstrap" and sent.count("after bootstrap") == 1
    before = {f"{c['name']}-{j}" for c in channels for j in range(4)}
    assert set(sent[:-1]) <= before
    status = (await client.get("/api/sync/status", headers=ada.headers)).json()
    assert status["last_sync_at"] is not None
