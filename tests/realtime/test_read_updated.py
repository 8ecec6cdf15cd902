"""`read.updated` carries the reader's counts after the read, so their other devices need not
ask for them; it reaches the reader's sockets only."""

from __future__ import annotations

import httpx

from tests.fixtures.factories import UserFactory
from tests.messaging.helpers import Api
from tests.realtime.conftest import LiveServer
from tests.realtime.test_gateway import connect, event_of, events_until, frame


async def test_another_device_hears_the_counts_after_a_read(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    cid = (await api.create_channel(ada, "reading", members=(bob,)))["id"]
    first = await api.send(ada, cid, "plain")
    await api.send(ada, cid, "@bob one")
    await api.send(ada, cid, "@bob two")
    last = await api.send(ada, cid, "plain again")

    async with connect(live, bob) as phone, connect(live, ada) as other:
        await frame(phone, "hello")
        await frame(other, "hello")
        r = await client.post(
            f"/api/channels/{cid}/read", headers=bob.headers, json={"message_id": first["id"]}
        )
        assert r.status_code == 200, r.text
        event = await event_of(phone, "read.updated")
        assert event["channel_id"] == cid
        assert event["data"] == {
            "channel_id": cid,
            "last_read_id": first["id"],
            "unread_count": 3,
            "mention_count": 2,
        }
        # As the read's answer and the channel's view say.
        assert {k: r.json()[k] for k in event["data"]} == event["data"]
        view = await api.channel(bob, cid)
        assert (view["unread_count"], view["mention_count"]) == (3, 2)

        await client.post(
            f"/api/channels/{cid}/read", headers=bob.headers, json={"message_id": last["id"]}
        )
        event = await event_of(phone, "read.updated")
        assert (event["data"]["unread_count"], event["data"]["mention_count"]) == (0, 0)

        # Ada's socket hears her own message, never Bob's reads.
        await api.send(ada, cid, "after the reads")
        heard = await events_until(
            other,
            lambda e: e["type"] == "message.created" and e["data"]["text"] == "after the reads",
        )
        assert "read.updated" not in [e["type"] for e in heard]


async def test_in_a_dm_the_counts_are_alike(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user(username="ada")
    bob = await make_user(username="bob")
    r = await client.post(
        "/api/channels/direct", headers=ada.headers, json={"user_ids": [str(bob.id)]}
    )
    cid = r.json()["id"]
    sent = [await api.send(ada, cid, f"m{n}") for n in range(3)]
    async with connect(live, bob) as phone:
        await frame(phone, "hello")
        await client.post(
            f"/api/channels/{cid}/read", headers=bob.headers, json={"message_id": sent[0]["id"]}
        )
        event = await event_of(phone, "read.updated")
        assert (event["data"]["unread_count"], event["data"]["mention_count"]) == (2, 2)
