"""Budgets in Redis (NCHAT_REDIS_URL): the same GCRA as PostgreSQL's, one script call per
check, with Redis's clock so every node agrees on the time.

Keys live under the deployment's prefix (NCHAT_REDIS_PREFIX, or else the one named after the
database, as the bus's channels do) and expire when their budget is whole again.

When Redis cannot be reached, each process decides with budgets in its own memory
(`local.py`) until Redis answers again, tried once per RETRY_EVERY_S: neither letting every
send through nor refusing them all (decision 0061). The switch is logged both ways, a
failed retry at most every WARN_EVERY_S, and shown by the `nchat_rate_limit_fallback`
gauge and the `nchat_rate_limit_local_checks_total` counter."""

from __future__ import annotations

import asyncio
import contextlib
import time

import redis.asyncio as redis
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from nchat.limits.local import LocalBudgets
from nchat.limits.rules import Rule
from nchat.observability import Metrics
from nchat.realtime.bus import PG_CONNECTION_ERRORS
from nchat.realtime.redis_bus import CLOSE_TIMEOUT_S, database_prefix

logger = structlog.get_logger("nchat.limits")

# A send waits at most this long (twice: one retry on a fresh connection) for Redis.
SOCKET_TIMEOUT_S = 1.0
WARN_EVERY_S = 10.0
# While Redis is away, one check per this long tries it again (and may wait the timeouts
# above); the others meanwhile are decided in memory at once.
RETRY_EVERY_S = 5.0

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
    def __init__(
        self,
        url: str,
        *,
        database_url: str,
        prefix: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
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
        self._metrics = metrics
        self._local = LocalBudgets()
        # Monotonic times: when Redis was found away (None: it answers), when to try again.
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._warned_at = -WARN_EVERY_S

    async def take(self, rule: Rule, key: str, cost: int = 1) -> float:
        answer = rule.unmetered(cost)
        if answer is not None:
            return answer
        if self._down_since is not None:
            now = time.monotonic()
            if now < self._retry_at:
                return self._take_locally(rule, key, cost)
            # This check tries Redis; those made while it waits stay in memory.
            self._retry_at = now + RETRY_EVERY_S
        try:
            prefix = await self._key_prefix()
            wait_us = await self._script(
                keys=[f"{prefix}:rate:{rule.name}:{key}"],
                args=[rule.interval_s * 1e6, rule.window_s * 1e6, cost],
            )
        except (RedisError, *PG_CONNECTION_ERRORS) as exc:
            self._went_away(exc)
            return self._take_locally(rule, key, cost)
        if self._down_since is not None:
            self._came_back()
        return int(wait_us) / 1e6

    def _take_locally(self, rule: Rule, key: str, cost: int) -> float:
        if self._metrics is not None:
            self._metrics.rate_limit_local_checks.inc()
        return self._local.take(rule, key, cost)

    async def _key_prefix(self) -> str:
        """Named on first use (the database may be away at startup), then kept."""
        if self._prefix is None:
            self._prefix = await database_prefix(self._database_url)
        return self._prefix

    def _went_away(self, exc: BaseException) -> None:
        now = time.monotonic()
        self._retry_at = now + RETRY_EVERY_S
        if self._down_since is None:
            self._down_since = now
            if self._metrics is not None:
                self._metrics.rate_limit_fallback.set(1)
        elif now - self._warned_at < WARN_EVERY_S:
            return
        self._warned_at = now
        logger.warning(
            "rate limits: Redis unreachable; limiting in this process",
            error=str(exc),
            down_s=round(now - self._down_since, 1),
        )

    def _came_back(self) -> None:
        assert self._down_since is not None
        logger.warning(
            "rate limits: Redis is back; limiting there again",
            down_s=round(time.monotonic() - self._down_since, 1),
        )
        self._down_since = None
        # The budgets in Redis are the ones that count again; these would only hold memory.
        self._local.clear()
        if self._metrics is not None:
            self._metrics.rate_limit_fallback.set(0)

    async def close(self) -> None:
        # Bounded, as the bus's: redis-py's close can wait forever on a half-closed socket.
        with contextlib.suppress(TimeoutError, RedisError, OSError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._client.aclose()
