"""Limiters on both backends: PostgreSQL (the test database) and the local Redis, each test
under a prefix of its own there."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from nchat.config import Settings
from nchat.limits.postgres import PgLimiter
from nchat.limits.redis_store import RedisLimiter

REDIS_URL = "redis://127.0.0.1:6379/0"
BACKENDS = ("postgres", "redis")
# The volume limits as shipped (tests/conftest.py lifts them for every other test).
SHIPPED = {
    name: Settings.model_fields[name].default
    for name in Settings.model_fields
    if name.startswith("rate_") and name != "rate_limit_exempt_roles"
}


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"nchat-test-{uuid.uuid4().hex}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def backend_settings(backend: str, redis_prefix: str) -> dict[str, object]:
    """Settings that choose the backend (the Redis bus comes with it, as in production)."""
    if backend == "redis":
        return {"redis_url": REDIS_URL, "redis_prefix": redis_prefix}
    return {}


Backend = PgLimiter | RedisLimiter


def make_limiter(backend: str, database_url: str, redis_prefix: str) -> Backend:
    if backend == "redis":
        return RedisLimiter(REDIS_URL, database_url=database_url, prefix=redis_prefix)
    return PgLimiter(database_url)


@pytest.fixture
async def limiter(
    backend: str, database_url: str, redis_prefix: str, clean_db: None
) -> AsyncIterator[Backend]:
    made = make_limiter(backend, database_url, redis_prefix)
    yield made
    await made.close()
