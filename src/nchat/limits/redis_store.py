"""Budgets in Redis (NCHAT_REDIS_URL): the same GCRA as PostgreSQL's, one script call per
check, with Redis's clock so every node agrees on the time.

Keys live under the deployment's prefix (NCHAT_REDIS_PREFIX, or else the one named after the
database, as the bus's channels do) and expire when their budget is whole again.

When Redis cannot be reached a check allows: an outage of the fan-out should not also stop
every send, and the budgets resume when Redis is back. It is logged, at most every
WARN_EVERY_S."""

from __future__ import annotations

import asyncio
import contextlib
import time

import redis.asyncio as redis
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from nchat.limits.rules import Rule
from nchat.realtime.bus import PG_CONNECTION_ERRORS
from nchat.realtime.redis_bus import CLOSE_TIMEOUT_S, database_prefix

logger = structlog.get_logger("nchat.limits")

# A send waits at most this long (twice: one retry on a fresh connection) for Redis.
SOCKET_TIMEOUT_S = 1.0
WARN_EVERY_S = 10.0

# KEYS[1]: the budget. ARGV: the emission interval and the window (microseconds), the cost.
# Returns 0 (allowed and counted) or the microseconds to wait (nothing counted). The time is
# kept as a float in microseconds (exact up to 2^53, some 285 years); '%.17g' writes it back
# without loss.
GCRA = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local spent_until = tat + tonumber(ARGV[3]) * tonumber(ARGV[1])
local wait = spent_until - now - tonumber(ARGV[2])
if wait > 0 then return math.ceil(wait) end
local ttl_ms = math.ceil((spent_until - now) / 1000)
redis.call('SET', KEYS[1], string.format('%.17g', spent_until), 'PX', ttl_ms)
return 0
"""


class RedisLimiter:
    def __init__(self, url: str, *, database_url: str, prefix: str | None = None) -> None:
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
            # One retry: a pooled connection may have died since its last use.
            retry=Retry(NoBackoff(), 1),
        )
        self._script = self._client.register_script(GCRA)
        self._database_url = database_url
        self._prefix = prefix
        self._warned_at = -WARN_EVERY_S

    async def take(self, rule: Rule, key: str, cost: int = 1) -> float:
        answer = rule.unmetered(cost)
        if answer is not None:
            return answer
        try:
            prefix = await self._key_prefix()
            wait_us = await self._script(
                keys=[f"{prefix}:rate:{rule.name}:{key}"],
                args=[rule.interval_s * 1e6, rule.window_s * 1e6, cost],
            )
        except (RedisError, *PG_CONNECTION_ERRORS) as exc:
            self._warn(exc)
            return 0.0
        return int(wait_us) / 1e6

    async def _key_prefix(self) -> str:
        """Named on first use (the database may be away at startup), then kept."""
        if self._prefix is None:
            self._prefix = await database_prefix(self._database_url)
        return self._prefix

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at >= WARN_EVERY_S:
            self._warned_at = now
            logger.warning("rate limits unavailable; allowing", error=str(exc))

    async def close(self) -> None:
        # Bounded, as the bus's: redis-py's close can wait forever on a half-closed socket.
        with contextlib.suppress(TimeoutError, RedisError, OSError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._client.aclose()
