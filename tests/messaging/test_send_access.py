"""A send decides on remembered channel accesses (channels/access_cache.py) and its write
checks the facts behind the decision again: changes made behind the process's back (here:
straight in the database) still refuse the next post, and nothing is written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nchat.channels import service as channels_service
from nchat.channels.service import ChannelAccess
from nchat.messages import content as messages_content
from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api, kill_session


async def post(
    client: httpx.AsyncClient, user: MadeUser, channel_id: str, text: str = "hi"
) -> httpx.Response:
    return await client.post(
        "/api/messages", headers=user.headers, json={"channel_id": channel_id, "text": text}
    )


SEND = "mutation($c: ID!, $t: String!) { sendMessage(channelId: $c, text: $t) { id } }"


async def send_via(
    via: str, client: httpx.AsyncClient, user: MadeUser, channel_id: str, text: str = "hi"
) -> tuple[int, str | None]:
    """(status, error code) of a send through REST or GraphQL (a GraphQL error's status is
    the one REST gives for its code)."""
    if via == "rest":
        r = await post(client, user, channel_id, text)
        return r.status_code, r.json()["error"]["code"] if r.status_code >= 400 else None
    r = await client.post(
        "/graphql",
        headers=user.headers,
        json={"query": SEND, "variables": {"c": channel_id, "t": text}},
    )
    body = r.json()
    if "errors" not in body:
        return 201, None
    extensions = body["errors"][0]["extensions"]
    return extensions["status"], extensions["code"]


async def message_count(engine: AsyncEngine, channel_id: str) -> int:
    async with engine.connect() as conn:
        query = sa.text("SELECT count(*) FROM nchat_messages WHERE channel_id = :c")
        return int(await conn.scalar(query, {"c": channel_id}))


@pytest.mark.parametrize("via", ["rest", "graphql"])
async def test_a_remembered_access_spares_the_send_its_channel_read(
    via: str, app: FastAPI, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    engine: AsyncEngine = app.state.engine
    ada = await make_user()
    channel = await api.create_channel(ada, "quick")
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    def channel_reads() -> int:
        """Channel reads recorded since the last call; background work such as the presence
        sweep may add statements of its own, which are not. (The send's own statement runs
        on the driver connection, past these events.)"""
        reads = sum("m_last_read_id" in s for s in seen)
        seen.clear()
        return reads

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        assert await send_via(via, client, ada, channel["id"], "first") == (201, None)
        assert channel_reads() == 1  # read, checked, written, remembered
        assert await send_via(via, client, ada, channel["id"], "second") == (201, None)
        assert channel_reads() == 0
        assert await message_count(engine, channel["id"]) == 2
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)


CHANGES = {
    "removed": (
        "DELETE FROM nchat_channel_members WHERE channel_id = :c AND user_id = :u",
        403,
        "not_channel_member",
    ),
    "archived": (
        "UPDATE nchat_channels SET archived_at = now() WHERE id = :c",
        403,
        "channel_archived",
    ),
    "read_only": (
        "UPDATE nchat_channels SET read_only = true WHERE id = :c",
        403,
        "channel_read_only",
    ),
}


@pytest.mark.parametrize("via", ["rest", "graphql"])
@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_a_change_behind_the_cache_refuses_the_next_post(
    change: str,
    via: str,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    engine: AsyncEngine,
) -> None:
    ada = await make_user()
    bob = await make_user()
    channel = await api.create_channel(ada, f"gone-{change}-{via}", members=(bob,))
    assert await send_via(via, client, bob, channel["id"]) == (201, None)
    sql, status, code = CHANGES[change]
    async with engine.begin() as conn:
        await conn.execute(sa.text(sql), {"c": channel["id"], "u": str(bob.id)})
    before = await message_count(engine, channel["id"])
    assert await send_via(via, client, bob, channel["id"]) == (status, code)
    assert await message_count(engine, channel["id"]) == before


async def test_a_demoted_channel_admin_cannot_post_in_an_announcement_channel(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    ada = await make_user("admin")
    bob = await make_user()
    channel = await api.create_channel(ada, "news", type_="announcement", members=(bob,))
    r = await client.put(
        f"/api/channels/{channel['id']}/members/{bob.id}",
        headers=ada.headers,
        json={"role": "admin"},
    )
    assert r.status_code == 204, r.text
    assert (await post(client, bob, channel["id"])).status_code == 201
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE nchat_channel_members SET role = 'member' WHERE user_id = :u"),
            {"u": str(bob.id)},
        )
    before = await message_count(engine, channel["id"])
    r = await post(client, bob, channel["id"])
    assert (r.status_code, r.json()["error"]["code"]) == (403, "announcement_only_admins")
    assert await message_count(engine, channel["id"]) == before


async def test_a_change_between_check_and_write_is_a_conflict(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check saw one thing, the write found another (as if an admin changed the member's
    role in between): nothing is written, and the client is told to send again."""
    ada = await make_user()
    channel = await api.create_channel(ada, "race")
    real = channels_service.get_access
    reads: list[int] = []

    async def stale_first(conn: Any, channel_id: Any, principal: Any) -> ChannelAccess:
        access = await real(conn, channel_id, principal)
        reads.append(1)
        if len(reads) > 1:
            return access
        assert access.membership is not None
        return ChannelAccess(access.channel, {**access.membership, "role": "member-then"})

    monkeypatch.setattr(channels_service, "get_access", stale_first)
    before = await message_count(engine, channel["id"])
    r = await post(client, ada, channel["id"])
    assert (r.status_code, r.json()["error"]["code"]) == (409, "channel_changed")
    assert len(reads) == 2
    assert await message_count(engine, channel["id"]) == before


async def test_a_send_on_a_lost_connection_is_a_503_and_the_next_one_is_written(
    app: FastAPI,
    engine: AsyncEngine,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The send's statement runs on the driver connection (db/driver.py); a connection lost
    under it is the same 503 as anywhere else, writes nothing, and the pool recovers."""
    app_engine: AsyncEngine = app.state.engine
    ada = await make_user()
    channel = await api.create_channel(ada, "lost")
    await api.send(ada, channel["id"], "first")  # remembered: the next send is one statement
    resolve = messages_content.resolve

    async def then_lose_the_connection(conn: AsyncConnection, *args: Any) -> Any:
        """Just before the send's statement, its own connection dies (killed from another
        engine; the app's background work keeps its own connections)."""
        resolved = await resolve(conn, *args)
        await kill_session(engine, await conn.scalar(sa.text("SELECT pg_backend_pid()")))
        monkeypatch.setattr(messages_content, "resolve", resolve)
        return resolved

    monkeypatch.setattr(messages_content, "resolve", then_lose_the_connection)
    r = await post(client, ada, channel["id"])
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "database_unavailable"
    assert await message_count(app_engine, channel["id"]) == 1
    r = await post(client, ada, channel["id"])
    assert r.status_code == 201, r.text
    assert await message_count(app_engine, channel["id"]) == 2
