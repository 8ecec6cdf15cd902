"""Volume limits through the app: REST sends, GraphQL sendMessage and the offline queue,
with the shipped limits (or low ones), on PostgreSQL and on Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.app import create_app
from tests.conftest import make_settings
from tests.fixtures.factories import MadeUser, UserFactory
from tests.limits.conftest import SHIPPED

GRAPHQL_SEND = "mutation($c: ID!, $t: String!) { sendMessage(channelId: $c, text: $t) { id } }"
# A rate so slow that nothing refills while a test runs, however loaded the machine.
SLOW = {"rate_send_per_min": 1}


@asynccontextmanager
async def app_client(
    database_url: str, tmp_path: Path, **overrides: object
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with the shipped limits, or those given."""
    app = create_app(make_settings(database_url, tmp_path, **{**SHIPPED, **overrides}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def make_channel(client: httpx.AsyncClient, owner: MadeUser, *members: MadeUser) -> str:
    r = await client.post(
        "/api/channels",
        headers=owner.headers,
        json={"name": "busy", "member_ids": [str(m.id) for m in members]},
    )
    assert r.status_code == 201, r.text
    channel_id: str = r.json()["id"]
    return channel_id


async def send(
    client: httpx.AsyncClient, user: MadeUser, channel_id: str, text: str, **extra: Any
) -> httpx.Response:
    body = {"channel_id": channel_id, "text": text, **extra}
    return await client.post("/api/messages", headers=user.headers, json=body)


async def message_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.text("SELECT count(*) FROM nchat_messages")) or 0)


def assert_rate_limited(r: httpx.Response) -> int:
    assert r.status_code == 429, r.text
    retry_after = int(r.headers["Retry-After"])
    assert retry_after >= 1
    assert r.json()["error"]["code"] == "rate_limited"
    assert r.json()["error"]["details"] == {"retry_after": retry_after}
    return retry_after


async def test_the_31st_send_is_refused_then_allowed_after_retry_after(
    database_url: str,
    tmp_path: Path,
    backend_settings: dict[str, object],
    make_user: UserFactory,
    engine: AsyncEngine,
) -> None:
    ada = await make_user()
    async with app_client(database_url, tmp_path, **SLOW, **backend_settings) as client:
        channel = await make_channel(client, ada)
        for i in range(30):  # the shipped burst
            r = await send(client, ada, channel, f"burst {i}", client_id=f"k{i}")
            assert r.status_code == 201, r.text
        refused = await send(client, ada, channel, "one too many")
        assert 1 <= assert_rate_limited(refused) <= 60  # one a minute
        assert await message_count(engine) == 30

        # A retry of a message already written is answered with it, not refused.
        retry = await send(client, ada, channel, "burst 3", client_id="k3")
        assert retry.status_code == 200, retry.text
        assert retry.json()["text"] == "burst 3"
        assert_rate_limited(await send(client, ada, channel, "new", client_id="k-new"))
        assert await message_count(engine) == 30


async def test_sends_work_again_after_retry_after(
    database_url: str,
    tmp_path: Path,
    backend_settings: dict[str, object],
    make_user: UserFactory,
    engine: AsyncEngine,
) -> None:
    ada = await make_user()
    async with app_client(database_url, tmp_path, **backend_settings) as client:
        channel = await make_channel(client, ada)
        sent = 0
        for _ in range(60):  # the burst, and what refills meanwhile on a loaded machine
            r = await send(client, ada, channel, "burst")
            if r.status_code != 201:
                break
            sent += 1
        assert sent >= 30
        retry_after = assert_rate_limited(r)
        assert retry_after == 1  # 120 a minute: one message every half second
        await asyncio.sleep(retry_after)
        assert (await send(client, ada, channel, "after the wait")).status_code == 201
    assert await message_count(engine) == sent + 1


async def test_limits_are_per_user(
    database_url: str,
    tmp_path: Path,
    backend_settings: dict[str, object],
    make_user: UserFactory,
) -> None:
    ada, bob = await make_user(), await make_user()
    async with app_client(
        database_url, tmp_path, rate_send_burst=2, **SLOW, **backend_settings
    ) as client:
        channel = await make_channel(client, ada, bob)
        for _ in range(2):
            assert (await send(client, ada, channel, "ada")).status_code == 201
        assert_rate_limited(await send(client, ada, channel, "ada"))
        assert (await send(client, bob, channel, "bob")).status_code == 201


async def test_exempt_roles_are_not_limited(
    database_url: str,
    tmp_path: Path,
    backend_settings: dict[str, object],
    make_user: UserFactory,
    engine: AsyncEngine,
) -> None:
    bot, ada = await make_user("admin"), await make_user()
    overrides = {
        "rate_send_burst": 2,
        "rate_limit_exempt_roles": "admin",
        **SLOW,
        **backend_settings,
    }
    async with app_client(database_url, tmp_path, **overrides) as client:
        channel = await make_channel(client, bot, ada)
        for i in range(6):
            assert (await send(client, bot, channel, f"bot {i}")).status_code == 201
        for _ in range(2):
            assert (await send(client, ada, channel, "ada")).status_code == 201
        assert_rate_limited(await send(client, ada, channel, "ada"))
    assert await message_count(engine) == 8


async def test_an_unknown_exempt_role_stops_startup(
    database_url: str, tmp_path: Path, make_user: UserFactory
) -> None:
    with pytest.raises(ValueError, match="robot"):
        async with app_client(database_url, tmp_path, rate_limit_exempt_roles="robot"):
            pass


async def test_two_apps_share_one_budget(
    database_url: str,
    tmp_path: Path,
    backend_settings: dict[str, object],
    make_user: UserFactory,
    engine: AsyncEngine,
) -> None:
    """Two processes or nodes on one database (and one Redis): one budget per user."""
    ada = await make_user()
    async with (
        app_client(database_url, tmp_path / "a", **SLOW, **backend_settings) as first,
        app_client(database_url, tmp_path / "b", **SLOW, **backend_settings) as second,
    ):
        channel = await make_channel(first, ada)
        for i in range(30):
            r = await send((first, second)[i % 2], ada, channel, f"m{i}")
            assert r.status_code == 201, r.text
        assert_rate_limited(await send(first, ada, channel, "over"))
        assert_rate_limited(await send(second, ada, channel, "over"))
    assert await message_count(engine) == 30


async def test_graphql_send_message_shares_the_send_budget(
    database_url: str,
    tmp_path: Path,
    backend_settings: dict[str, object],
    make_user: UserFactory,
    engine: AsyncEngine,
) -> None:
    ada = await make_user()
    async with app_client(
        database_url, tmp_path, rate_send_burst=3, **SLOW, **backend_settings
    ) as client:
        channel = await make_channel(client, ada)
        assert (await send(client, ada, channel, "over REST")).status_code == 201
        answers = []
        for i in range(3):
            r = await client.post(
                "/graphql",
                headers=ada.headers,
                json={"query": GRAPHQL_SEND, "variables": {"c": channel, "t": f"gql {i}"}},
            )
            assert r.status_code == 200, r.text
            answers.append(r.json())
        assert [a.get("errors") is None for a in answers] == [True, True, False]
        error = answers[2]["errors"][0]["extensions"]
        assert error["code"] == "rate_limited"
        assert error["status"] == 429
        assert error["details"]["retry_after"] >= 1
    assert await message_count(engine) == 3


def sends(channel_id: str, n: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "client_op_id": f"{tag}-{i}",
            "type": "message.send",
            "payload": {"channel_id": channel_id, "text": f"offline {tag} {i}"},
        }
        for i in range(n)
    ]


async def test_a_sync_queue_over_budget_is_refused_whole(
    database_url: str,
    tmp_path: Path,
    backend_settings: dict[str, object],
    make_user: UserFactory,
    engine: AsyncEngine,
) -> None:
    ada = await make_user()
    overrides = {"rate_sync_ops_per_min": 1, "rate_sync_ops_burst": 10, **backend_settings}
    async with app_client(database_url, tmp_path, **overrides) as client:
        channel = await make_channel(client, ada)

        async def push(ops: list[dict[str, Any]]) -> httpx.Response:
            body = {"operations": ops}
            return await client.post("/api/sync/queue", headers=ada.headers, json=body)

        r = await push(sends(channel, 8, "first"))
        assert r.status_code == 200, r.text
        assert {op["status"] for op in r.json()["results"]} == {"applied"}
        retry_after = assert_rate_limited(await push(sends(channel, 3, "second")))
        assert 1 <= retry_after <= 60  # one operation short, at one a minute
        assert await message_count(engine) == 8
        async with engine.connect() as conn:
            recorded = await conn.scalar(sa.text("SELECT count(*) FROM nchat_sync_ops"))
        assert recorded == 8

        # More than a whole budget can never pass: no Retry-After, but how much fits.
        too_big = await push(sends(channel, 11, "third"))
        assert too_big.status_code == 413, too_big.text
        assert too_big.json()["error"]["details"] == {"cost": 11, "max_cost": 10}

        assert (await push(sends(channel, 2, "fourth"))).status_code == 200
        assert (await push([])).status_code == 200  # nothing to count
    assert await message_count(engine) == 10


async def test_the_shipped_sync_budget_takes_one_full_queue(
    database_url: str, tmp_path: Path, make_user: UserFactory
) -> None:
    """500 operations (the most a call may carry) pass once, then the queue waits."""
    ada = await make_user()
    async with app_client(database_url, tmp_path) as client:
        channel = await make_channel(client, ada)
        reads = [
            {"client_op_id": f"r{i}", "type": "channel.read", "payload": {"channel_id": channel}}
            for i in range(500)
        ]
        r = await client.post("/api/sync/queue", headers=ada.headers, json={"operations": reads})
        assert r.status_code == 200, r.text
        # 120 a minute, as sends: another full call waits until 500 more have accrued (250 s),
        # less whatever accrued while the first ran.
        more = [{**op, "client_op_id": f"more-{i}"} for i, op in enumerate(reads)]
        r = await client.post("/api/sync/queue", headers=ada.headers, json={"operations": more})
        assert 200 <= assert_rate_limited(r) <= 250


async def test_a_send_checks_on_its_own_connection(
    database_url: str, tmp_path: Path, make_user: UserFactory
) -> None:
    """REST sends run autocommit: their check is one more statement on the request's
    connection. The queue's request is a transaction: its check takes the limiter's own
    connection, so the budget's row is not locked until that transaction ends."""
    ada = await make_user()
    app = create_app(make_settings(database_url, tmp_path, **SHIPPED))
    async with app.router.lifespan_context(app):
        own_pool = app.state.limits.limiter._engine.pool
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            channel = await make_channel(client, ada)
            for i in range(3):
                assert (await send(client, ada, channel, f"m{i}")).status_code == 201
            assert own_pool.checkedin() == 0  # never connected
            r = await client.post(
                "/api/sync/queue", headers=ada.headers, json={"operations": sends(channel, 1, "q")}
            )
            assert r.status_code == 200, r.text
            assert own_pool.checkedin() == 1
        async with app.state.engine.connect() as conn:
            keys = await conn.execute(sa.text("SELECT key FROM nchat_rate_limits ORDER BY key"))
            assert keys.scalars().all() == [f"send:{ada.id}", f"sync_ops:{ada.id}"]
