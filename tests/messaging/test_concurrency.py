"""Concurrent writers: counters stay exact, idempotent operations stay single."""

from __future__ import annotations

import asyncio

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.factories import UserFactory
from tests.messaging.helpers import Api


async def test_concurrent_replies_keep_reply_count_exact(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    people = [await make_user() for _ in range(4)]
    channel = await api.create_channel(people[0], "threads", members=tuple(people[1:]))
    root = await api.send(people[0], channel["id"], "root")

    async def reply(i: int) -> int:
        r = await client.post(
            "/api/messages",
            headers=people[i % 4].headers,
            json={"channel_id": channel["id"], "text": f"reply {i}", "thread_id": root["id"]},
        )
        return r.status_code

    codes = await asyncio.gather(*(reply(i) for i in range(40)))
    assert codes == [201] * 40
    # Deletes race with new replies too.
    thread = (
        await client.get(f"/api/messages/{root['id']}/thread?limit=200", headers=people[0].headers)
    ).json()
    doomed = [m for m in thread["replies"] if m["user"]["id"] == str(people[1].id)]
    results = await asyncio.gather(
        *(client.delete(f"/api/messages/{m['id']}", headers=people[1].headers) for m in doomed),
        *(reply(100 + i) for i in range(10)),
    )
    deleted, added = results[: len(doomed)], results[len(doomed) :]
    assert all(r.status_code == 204 for r in deleted)  # type: ignore[union-attr]
    assert added == [201] * 10
    async with engine.connect() as conn:
        stored = await conn.scalar(
            sa.text("SELECT reply_count FROM nchat_messages WHERE id = :id"), {"id": root["id"]}
        )
        actual = await conn.scalar(
            sa.text(
                "SELECT count(*) FROM nchat_messages WHERE thread_id = :id AND deleted_at IS NULL"
            ),
            {"id": root["id"]},
        )
    assert stored == actual == 40 - len(doomed) + 10


async def test_concurrent_dm_opens_make_one_channel(
    client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine
) -> None:
    ada, bob, cy = [await make_user() for _ in range(3)]

    async def open_dm(user_headers: dict[str, str], others: list[str]) -> str:
        r = await client.post(
            "/api/channels/direct", headers=user_headers, json={"user_ids": others}
        )
        assert r.status_code in (200, 201), r.text
        channel_id: str = r.json()["id"]
        return channel_id

    ids = await asyncio.gather(
        *(open_dm(ada.headers, [str(bob.id)]) for _ in range(5)),
        *(open_dm(bob.headers, [str(ada.id)]) for _ in range(5)),
    )
    assert len(set(ids)) == 1
    groups = await asyncio.gather(
        *(open_dm(ada.headers, [str(bob.id), str(cy.id)]) for _ in range(4)),
        *(open_dm(cy.headers, [str(ada.id), str(bob.id), str(cy.id)]) for _ in range(4)),
    )
    assert len(set(groups)) == 1 and groups[0] != ids[0]
    async with engine.connect() as conn:
        count = await conn.scalar(sa.text("SELECT count(*) FROM nchat_channels"))
        members = await conn.scalar(
            sa.text("SELECT count(*) FROM nchat_channel_members WHERE channel_id = :c"),
            {"c": ids[0]},
        )
    assert count == 2
    assert members == 2


async def test_concurrent_sends_with_one_client_id_make_one_message(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    ada = await make_user()
    channel = await api.create_channel(ada, "idem")
    payload = {"channel_id": channel["id"], "text": "once", "client_id": "phone-42"}
    responses = await asyncio.gather(
        *(client.post("/api/messages", headers=ada.headers, json=payload) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    async with engine.connect() as conn:
        count = await conn.scalar(
            sa.text("SELECT count(*) FROM nchat_messages WHERE channel_id = :c"),
            {"c": channel["id"]},
        )
    assert count == 1


async def test_concurrent_reactions_count_each_person_once(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    people = [await make_user() for _ in range(6)]
    channel = await api.create_channel(people[0], "party", members=tuple(people[1:]))
    message = await api.send(people[0], channel["id"], "cake!")
    url = f"/api/messages/{message['id']}/reactions"
    await asyncio.gather(
        *(
            client.post(url, headers=p.headers, json={"emoji": ":cake:"})
            for p in people
            for _ in range(3)
        )
    )
    final = (await client.get(f"/api/messages/{message['id']}", headers=people[0].headers)).json()
    assert final["reactions"] == [{"emoji": ":cake:", "count": 6, "me": True}]
