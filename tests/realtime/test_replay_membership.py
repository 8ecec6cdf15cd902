"""Replays filter by membership at each event's time, as live sockets do: a member removed
and re-added, and a late joiner, replay exactly what their sockets received."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api
from tests.realtime.conftest import LiveServer
from tests.realtime.test_gateway import connect, events_until, frame
from tests.sync.test_changes import collect


def _is(message: dict[str, Any]) -> Any:
    return lambda e: e["type"] == "message.created" and e["data"]["id"] == message["id"]


def _summary(events: list[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    return [(e["id"], e["type"], (e["data"].get("text") or None)) for e in events]


async def test_replays_match_live_delivery_across_membership_changes(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    bob = await make_user()
    cat = await make_user()
    channel = await api.create_channel(ada, "churn", members=(bob,))
    members_url = f"/api/channels/{channel['id']}/members"

    async with connect(live, bob) as bob_ws, connect(live, cat) as cat_ws:
        starts = {"bob": (await frame(bob_ws, "hello"))["cursor"]}
        starts["cat"] = (await frame(cat_ws, "hello"))["cursor"]
        before = await api.send(ada, channel["id"], "bob is in")
        r = await client.delete(f"{members_url}/{bob.id}", headers=ada.headers)
        assert r.status_code == 204, r.text
        away = await api.send(ada, channel["id"], "bob is out")
        r = await client.post(
            members_url, headers=ada.headers, json={"user_ids": [str(bob.id), str(cat.id)]}
        )
        assert r.status_code == 200, r.text
        after = await api.send(ada, channel["id"], "both are in")
        seen_live = {
            "bob": await events_until(bob_ws, _is(after)),
            "cat": await events_until(cat_ws, _is(after)),
        }

    texts = {name: [e["data"].get("text") for e in seen] for name, seen in seen_live.items()}
    assert before["text"] in texts["bob"] and after["text"] in texts["bob"]
    assert away["text"] not in texts["bob"]
    assert texts["cat"].count(after["text"]) == 1
    assert before["text"] not in texts["cat"] and away["text"] not in texts["cat"]

    users: dict[str, MadeUser] = {"bob": bob, "cat": cat}
    for name, user in users.items():
        # /api/sync/changes from the socket's first cursor gives what the socket got ...
        replay = await collect(client, user, starts[name], len(seen_live[name]))
        assert _summary(replay["events"]) == _summary(seen_live[name]), name
        # ... and so does a socket resuming from it.
        async with connect(live, user, since=starts[name]) as ws:
            await frame(ws, "hello")
            resumed = await events_until(ws, _is(after))
        assert _summary(resumed) == _summary(seen_live[name]), name


async def test_a_hub_reading_behind_subscribes_a_late_joiner_from_their_join(
    live: LiveServer,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    engine: AsyncEngine,
) -> None:
    """A transaction held open keeps the hub behind a channel's creation until after a later
    member joined: the creation subscribes only the members it made, so the late joiner
    gets what was sent after they joined and nothing before, as a replay would give them."""
    ada = await make_user()
    bob = await make_user()
    cat = await make_user()
    async with connect(live, cat) as cat_ws:
        await frame(cat_ws, "hello")
        async with engine.connect() as holder:
            # A transaction id of its own: the log's horizon stays below it until it ends.
            await holder.execute(sa.text("SELECT pg_current_xact_id()"))
            channel = await api.create_channel(ada, "late", members=(bob,))
            before = await api.send(ada, channel["id"], "before cat joined")
            r = await client.post(
                f"/api/channels/{channel['id']}/members",
                headers=ada.headers,
                json={"user_ids": [str(cat.id)]},
            )
            assert r.status_code == 200, r.text
            after = await api.send(ada, channel["id"], "after cat joined")
            await holder.rollback()
        seen = await events_until(cat_ws, _is(after))
    texts = [e["data"].get("text") for e in seen]
    assert before["text"] not in texts
    assert texts.count(after["text"]) == 1
