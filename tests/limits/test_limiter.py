"""GCRA on both backends: burst, refill, cost, isolation of keys, shared budgets, concurrent
checks; and the PostgreSQL backend's locking and pruning."""

from __future__ import annotations

import asyncio
import math
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis.asyncio as redis
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat import housekeeping
from nchat.errors import TooManyRequests
from nchat.limits import Limits, OverBurst, Rule, Rules, check
from nchat.limits.postgres import OnConnection, PgLimiter
from nchat.limits.redis_store import RedisLimiter
from nchat.realtime.redis_bus import database_prefix
from nchat.storage import make_storage
from nchat.tables.limits import rate_limits
from tests.conftest import make_settings
from tests.limits.conftest import BACKENDS, REDIS_URL, Backend, make_limiter

# The shipped burst, at a rate so slow that nothing refills while a test runs, however
# loaded the machine: the answers do not depend on how fast the checks are.
SEND = Rule("send", per_min=1, burst=30)
SLOW = Rule("slow", per_min=1, burst=3)
FAST = Rule("fast", per_min=600, burst=3)  # 0.1 s per unit


async def spend_all(limiter: Backend, rule: Rule, key: str) -> float:
    """Take until refused (a loaded machine may refill a unit or two meanwhile); the wait."""
    for _ in range(50):
        wait = await limiter.take(rule, key)
        if wait > 0.0:
            return wait
    raise AssertionError("never refused")


async def test_a_burst_then_refusals_that_count_nothing(limiter: Backend) -> None:
    key = str(uuid.uuid4())
    assert [await limiter.take(SEND, key) for _ in range(30)] == [0.0] * 30
    first = await limiter.take(SEND, key)
    again = await limiter.take(SEND, key)
    # The 31st waits for one interval (less what the 30 took); refusing counted nothing.
    assert 0.0 < first <= SEND.interval_s
    assert 0.0 < again <= first


async def test_allowed_again_after_the_wait(limiter: Backend) -> None:
    key = str(uuid.uuid4())
    wait = await spend_all(limiter, FAST, key)
    assert 0.0 < wait <= FAST.interval_s
    await asyncio.sleep(wait + 0.01)
    assert await limiter.take(FAST, key) == 0.0


async def test_cost_spends_several_units(limiter: Backend) -> None:
    rule = Rule("ops", per_min=1, burst=10)
    key = str(uuid.uuid4())
    assert await limiter.take(rule, key, cost=7) == 0.0
    wait = await limiter.take(rule, key, cost=4)
    assert 59.0 < wait <= 60.0  # one unit short: about one interval
    assert await limiter.take(rule, key, cost=3) == 0.0  # the refusal took nothing
    assert await limiter.take(rule, key, cost=1) > 0.0


async def test_costs_no_budget_decides(limiter: Backend) -> None:
    key = str(uuid.uuid4())
    assert await limiter.take(FAST, key, cost=0) == 0.0
    assert math.isinf(await limiter.take(FAST, key, cost=FAST.burst + 1))
    assert [await limiter.take(FAST, key) for _ in range(3)] == [0.0] * 3  # nothing spent


async def test_keys_and_rules_have_budgets_of_their_own(limiter: Backend) -> None:
    ada, bob = str(uuid.uuid4()), str(uuid.uuid4())
    for _ in range(SLOW.burst):
        await limiter.take(SLOW, ada)
    assert await limiter.take(SLOW, ada) > 0.0
    assert await limiter.take(SLOW, bob) == 0.0
    assert await limiter.take(SLOW._replace(name="other"), ada) == 0.0


async def test_concurrent_checks_allow_exactly_the_burst(limiter: Backend) -> None:
    key = str(uuid.uuid4())
    waits = await asyncio.gather(*(limiter.take(SEND, key) for _ in range(45)))
    assert sum(1 for w in waits if w == 0.0) == 30


@pytest.mark.parametrize("backend", BACKENDS)
async def test_two_limiters_share_one_budget(
    backend: str, database_url: str, redis_prefix: str, clean_db: None
) -> None:
    """Two processes or nodes: two engines (or Redis clients) on the same store."""
    first = make_limiter(backend, database_url, redis_prefix)
    second = make_limiter(backend, database_url, redis_prefix)
    try:
        key = str(uuid.uuid4())
        answers = [await (first, second)[i % 2].take(SEND, key) for i in range(31)]
        assert answers[:30] == [0.0] * 30
        assert answers[30] > 0.0
        assert await first.take(SEND, key) > 0.0
    finally:
        await first.close()
        await second.close()


async def test_both_backends_answer_alike(
    database_url: str, redis_prefix: str, clean_db: None
) -> None:
    rule = Rule("mixed", per_min=1, burst=5)
    script = [1, 2, 1, 2, 1, 1, 5, 3, 0, 6, 1]
    answers: dict[str, list[bool]] = {}
    for backend in BACKENDS:
        limiter = make_limiter(backend, database_url, redis_prefix)
        try:
            key = str(uuid.uuid4())
            answers[backend] = [await limiter.take(rule, key, cost) == 0.0 for cost in script]
        finally:
            await limiter.close()
    assert answers["postgres"] == answers["redis"]
    # Units 1, 3, 4 spent; 2 more would be 6; 1 more is 5, the burst; then only cost 0.
    yes, no = True, False
    assert answers["postgres"] == [yes, yes, yes, no, yes, no, no, no, yes, no, no]


async def test_check_raises_429_with_retry_after_unless_exempt(limiter: Backend) -> None:
    user = uuid.uuid4()
    with pytest.raises(TooManyRequests) as refused:  # at some check: the burst, or a little more
        for _ in range(50):
            await check(limiter, FAST, user_id=user, role="member", exempt_roles=())
    assert refused.value.headers == {"Retry-After": "1"}  # 0.1 s, rounded up
    assert refused.value.details == {"retry_after": 1}
    for _ in range(10):
        await check(limiter, FAST, user_id=user, role="admin", exempt_roles={"admin"})
    with pytest.raises(OverBurst) as too_big:
        await check(limiter, FAST, user_id=user, role="member", exempt_roles=(), cost=4)
    assert too_big.value.status_code == 413
    assert too_big.value.details == {"cost": 4, "max_cost": FAST.burst}


async def test_redis_unreachable_limits_in_memory(database_url: str) -> None:
    """Neither open nor shut: the budget of this process (decision 0061)."""
    limiter = RedisLimiter("redis://127.0.0.1:1/0", database_url=database_url, prefix="gone")
    slow = Rule("slow", per_min=1, burst=3)
    try:
        assert [await limiter.take(slow, "anyone") for _ in range(3)] == [0.0] * 3
        assert await limiter.take(slow, "anyone") > 0
        assert await limiter.take(slow, "someone else") == 0.0
    finally:
        await limiter.close()


def test_unknown_exempt_roles_are_refused(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, rate_limit_exempt_roles="admin, bots")
    with pytest.raises(ValueError, match="bots"):
        Rules.from_settings(settings)
    ok = make_settings(database_url, tmp_path, rate_limit_exempt_roles="admin,owner")
    assert Rules.from_settings(ok).exempt_roles == {"admin", "owner"}


# -- PostgreSQL only ----------------------------------------------------------------------


async def test_a_check_in_a_transaction_leaves_no_row_locked(
    database_url: str, engine: AsyncEngine, clean_db: None
) -> None:
    limiter = PgLimiter(database_url)
    rules = Rules(send=SEND, sync_ops=SEND, signals=SEND, exempt_roles=frozenset())
    try:
        user = uuid.uuid4()
        async with engine.begin() as request_conn:
            limits = Limits(limiter, rules).on(request_conn)
            assert limits.limiter is limiter  # not the transaction's connection
            await check(limits.limiter, SEND, user_id=user, role="member", exempt_roles=())
            async with engine.connect() as other:
                locked = sa.select(rate_limits.c.key).with_for_update(nowait=True)
                assert (await other.execute(locked)).scalars().all() == [f"send:{user}"]
        async with engine.connect() as auto:
            await auto.execution_options(isolation_level="AUTOCOMMIT")
            assert isinstance(Limits(limiter, rules).on(auto).limiter, OnConnection)
    finally:
        await limiter.close()


async def test_housekeeping_prunes_whole_budgets(
    database_url: str, engine: AsyncEngine, clean_db: None, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(rate_limits),
            [
                {"key": "send:past", "tat": now - timedelta(seconds=1)},
                {"key": "send:future", "tat": now + timedelta(hours=1)},
            ],
        )
    settings = make_settings(database_url, tmp_path)
    await housekeeping.run_once(engine, settings, make_storage(settings))
    async with engine.connect() as conn:
        keys = (await conn.execute(sa.select(rate_limits.c.key))).scalars().all()
    assert keys == ["send:future"]


async def test_redis_keys_default_to_the_bus_prefix(database_url: str) -> None:
    limiter = RedisLimiter(REDIS_URL, database_url=database_url)
    client = redis.Redis.from_url(REDIS_URL)
    key = f"{await database_prefix(database_url)}:rate:slow:{uuid.uuid4()}"
    try:
        assert await limiter.take(SLOW, key.rsplit(":", 1)[1]) == 0.0
        assert 0 < await client.pttl(key) <= 60_000
    finally:
        await client.delete(key)
        await client.aclose()
        await limiter.close()
