from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.realtime.cursor import Position
from nchat.realtime.events import EVENT_DATA
from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api


async def changes(
    client: httpx.AsyncClient, user: MadeUser, since: str | None = None, limit: int = 200
) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if since:
        params["since"] = since
    r = await client.get("/api/sync/changes", params=params, headers=user.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    for event in body["events"]:  # every event matches its typed model
        EVENT_DATA[event["type"]].model_validate(event["data"])
    return body


async def collect(
    client: httpx.AsyncClient,
    user: MadeUser,
    since: str,
    count: int,
    *,
    limit: int = 200,
    kind: str | None = None,
) -> dict[str, Any]:
    """Read from `since` until `count` events came (delivery waits for every transaction
    older than an event to finish, including other tests' on the same server), then check
    that nothing beyond them arrives."""
    events: list[dict[str, Any]] = []
    cursor = since
    deadline = asyncio.get_running_loop().time() + 10
    while len([e for e in events if kind in (None, e["type"])]) < count:
        assert asyncio.get_running_loop().time() < deadline, events
        page = await changes(client, user, cursor, limit)
        events += page["events"]
        cursor = page["cursor"]
        if not page["events"]:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.05)
    extra = await changes(client, user, cursor, limit)
    return {"events": events + extra["events"], "cursor": extra["cursor"]}


async def test_changes_deliver_what_the_user_may_see(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    bob = await make_user()
    start_ada = (await changes(client, ada))["cursor"]
    start_bob = (await changes(client, bob))["cursor"]
    open_channel = await api.create_channel(ada, "open", members=(bob,))
    secret = await api.create_channel(ada, "secret", type_="private")
    hello = await api.send(ada, open_channel["id"], "hello bob")
    await api.send(ada, secret["id"], "not for bob")
    await client.post(
        f"/api/channels/{open_channel['id']}/read",
        headers=ada.headers,
        json={"message_id": hello["id"]},
    )

    seen_by_bob = await collect(client, bob, start_bob, 2)
    types = [(e["type"], e["channel_id"]) for e in seen_by_bob["events"]]
    assert types == [
        ("channel.created", open_channel["id"]),
        ("message.created", open_channel["id"]),
    ]
    created = seen_by_bob["events"][1]["data"]
    assert created["id"] == hello["id"] and created["text"] == "hello bob"
    assert created["user"]["username"] == ada.username

    seen_by_ada = await collect(client, ada, start_ada, 5)
    assert [e["type"] for e in seen_by_ada["events"]] == [
        "channel.created",
        "channel.created",
        "message.created",
        "message.created",
        "read.updated",
    ]
    # Resuming from the cursor returns nothing new; from any event id, what came after it.
    assert (await changes(client, ada, seen_by_ada["cursor"]))["events"] == []
    middle = seen_by_ada["events"][2]["id"]
    rest = await collect(client, ada, middle, 2)
    assert [e["id"] for e in rest["events"]] == [e["id"] for e in seen_by_ada["events"][3:]]


async def test_paging_with_limit_and_has_more(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    start = (await changes(client, ada))["cursor"]
    channel = await api.create_channel(ada, "paged")
    for i in range(7):
        await api.send(ada, channel["id"], f"m{i}")
    page = await collect(client, ada, start, 8, limit=3)
    seen = [e["data"].get("text", e["type"]) for e in page["events"]]
    assert seen == ["channel.created"] + [f"m{i}" for i in range(7)]
    first = await changes(client, ada, start, limit=3)
    assert len(first["events"]) == 3 and first["has_more"] is True


async def test_late_committing_transaction_is_not_skipped(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    """Event 1 is written by a transaction that commits after event 2's: a reader that saw
    event 2 must still get event 1 later, and exactly once."""
    ada = await make_user()
    channel = await api.create_channel(ada, "race")
    start = (await changes(client, ada))["cursor"]
    insert = sa.text(
        "INSERT INTO nchat_events (type, channel_id, user_id, data) "
        "VALUES ('channel.updated', :c, :u, CAST(:d AS jsonb))"
    )
    data = (
        '{"id": "%s", "type": "public", "name": "race", "topic": "%s", "description": "",'
        ' "read_only": false, "archived": false, "archived_at": null, "created_by": null,'
        ' "created_at": "2026-01-01T00:00:00Z", "member_count": 1}'
    )
    async with engine.connect() as slow:
        slow_tx = await slow.begin()
        await slow.execute(
            insert, {"c": channel["id"], "u": str(ada.id), "d": data % (channel["id"], "first")}
        )
        async with engine.begin() as fast:
            await fast.execute(
                insert,
                {"c": channel["id"], "u": str(ada.id), "d": data % (channel["id"], "second")},
            )
        while_open = await changes(client, ada, start)
        assert [e for e in while_open["events"] if e["type"] == "channel.updated"] == []
        await slow_tx.commit()
    after = await collect(client, ada, while_open["cursor"], 2, kind="channel.updated")
    # (channel.created may arrive here too when other tests' transactions held it back.)
    updates = [e["data"]["topic"] for e in after["events"] if e["type"] == "channel.updated"]
    assert updates == ["first", "second"]
    assert (await changes(client, ada, after["cursor"]))["events"] == []


async def test_bad_and_expired_cursors(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    ada = await make_user()
    for bad in ["nope", "!!!", Position(1, 2, 3).encode()[:-2] + "$$"]:
        r = await client.get("/api/sync/changes", params={"since": bad}, headers=ada.headers)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_cursor"
    ancient = Position(1, 1, 1_000_000).encode()
    r = await client.get("/api/sync/changes", params={"since": ancient}, headers=ada.headers)
    assert r.status_code == 410 and r.json()["error"]["code"] == "resync_required"


@pytest.mark.parametrize("limit", [0, 1001, -5])
async def test_limit_bounds(client: httpx.AsyncClient, make_user: UserFactory, limit: int) -> None:
    ada = await make_user()
    r = await client.get("/api/sync/changes", params={"limit": limit}, headers=ada.headers)
    assert r.status_code == 422


async def test_idle_polls_write_nothing(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    """An empty page leaves the session row alone (a write would hold back the log's
    horizon for everyone); a page with events stores its cursor."""
    ada = await make_user()

    async def stored() -> tuple[Any, Any, Any]:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.text(
                        "SELECT xmin::text, last_sync_at, last_sync_cursor FROM nchat_sessions"
                        " WHERE user_id = :u"
                    ),
                    {"u": ada.id},
                )
            ).one()
            return row[0], row[1], row[2]

    first = await changes(client, ada)
    version, synced_at, cursor = await stored()
    assert synced_at is not None and cursor == first["cursor"]
    for _ in range(3):
        await changes(client, ada, first["cursor"])
    assert await stored() == (version, synced_at, cursor)

    channel = await api.create_channel(ada, "busy")
    page = await collect(client, ada, first["cursor"], 1)
    assert [e["data"]["id"] for e in page["events"]] == [channel["id"]]
    version_after, synced_after, cursor_after = await stored()
    assert version_after != version and synced_after > synced_at
    assert cursor_after != cursor
