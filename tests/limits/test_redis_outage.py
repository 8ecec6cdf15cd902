"""Volume limits on Redis while Redis goes away and comes back: a redis-server of the test's
own, stopped and started again on the same port (decision 0061)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis
import structlog

from nchat.app import create_app
from nchat.limits.local import LocalBudgets
from nchat.limits.rules import Rule
from tests.conftest import make_settings
from tests.fixtures.factories import MadeUser, UserFactory
from tests.fixtures.metrics import scrape
from tests.fixtures.processes import free_port
from tests.limits.conftest import SHIPPED
from tests.limits.test_api import make_channel, send
from tests.realtime.nodes import eventually

# Nothing refills while a test runs: three sends, then refusals.
LIMITS = {**SHIPPED, "rate_send_per_min": 1, "rate_send_burst": 3}
STOP_TIMEOUT_S = 10.0


class OwnRedis:
    """A redis-server that keeps nothing on disk, on a port of its own."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            "redis-server",
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(self.workdir)),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )

        async def answers() -> bool:
            client = redis.Redis.from_url(self.url)
            try:
                return bool(await client.ping())
            except redis.RedisError:
                return False
            finally:
                await client.aclose()

        await eventually(answers, what="redis-server answers")

    async def stop(self) -> None:
        """Gone without a word (SIGKILL), as a crashed or unplugged server is."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await self.process.wait()
        self.process = None


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@asynccontextmanager
async def app_on(
    database_url: str, tmp_path: Path, server: OwnRedis
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url,
        tmp_path,
        redis_url=server.url,
        redis_prefix=f"nchat-test-{uuid.uuid4().hex}",
        **LIMITS,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def _statuses(
    client: httpx.AsyncClient, user: MadeUser, channel_id: str, times: int
) -> list[int]:
    return [(await send(client, user, channel_id, f"hello {i}")).status_code for i in range(times)]


async def _fallback(client: httpx.AsyncClient) -> tuple[float, float]:
    scraped = await scrape(client)
    return (
        scraped.value("nchat_rate_limit_fallback"),
        scraped.value("nchat_rate_limit_local_checks_total"),
    )


async def test_sends_stay_limited_while_redis_is_down_and_back_on_redis_after(
    database_url: str,
    tmp_path: Path,
    clean_db: None,
    make_user: UserFactory,
    own_redis: OwnRedis,
) -> None:
    owner = await make_user()
    async with app_on(database_url, tmp_path, own_redis) as client:
        channel_id = await make_channel(client, owner)
        assert await _statuses(client, owner, channel_id, 4) == [201, 201, 201, 429]
        assert await _fallback(client) == (0.0, 0.0)

        await own_redis.stop()
        with structlog.testing.capture_logs() as logs:
            # A budget of this process's own, whole at first: the burst, then refusals
            # (before the change, every send passed).
            assert await _statuses(client, owner, channel_id, 5) == [201, 201, 201, 429, 429]
        assert any(
            e["event"] == "rate limits: Redis unreachable; limiting in this process" for e in logs
        ), logs
        assert await _fallback(client) == (1.0, 5.0)

        await own_redis.start()  # empty: every budget there is whole

        async def redis_decides() -> bool:
            return (await send(client, owner, channel_id, "again?")).status_code == 201

        # Refused in memory until a check tries Redis again (RETRY_EVERY_S).
        await eventually(redis_decides, what="a send allowed by Redis again")
        fallback, _ = await _fallback(client)
        assert fallback == 0.0
        # Redis's budget again: the first allowed send spent one of its three.
        assert await _statuses(client, owner, channel_id, 3) == [201, 201, 429]


async def test_a_redis_that_never_answers_limits_in_memory_from_the_start(
    database_url: str, tmp_path: Path, clean_db: None, make_user: UserFactory
) -> None:
    """Down before the first check: no budget in Redis was ever read."""
    owner = await make_user()
    gone = OwnRedis(tmp_path)  # never started: nothing listens on its port
    async with app_on(database_url, tmp_path, gone) as client:
        channel_id = await make_channel(client, owner)
        assert await _statuses(client, owner, channel_id, 5) == [201, 201, 201, 429, 429]
        fallback, local_checks = await _fallback(client)
        assert fallback == 1.0 and local_checks == 5.0


def test_memory_budgets_are_bounded_whatever_the_keys() -> None:
    budgets = LocalBudgets(max_keys=100)
    rule = Rule("send", per_min=1, burst=1)
    for i in range(1000):
        assert budgets.take(rule, f"user-{i}") == 0.0
    assert len(budgets) == 100
    # The most recent keep their (spent) budgets; the oldest are forgotten, whole again.
    assert budgets.take(rule, "user-999") > 0
    assert budgets.take(rule, "user-0") == 0.0
    assert len(budgets) == 100
