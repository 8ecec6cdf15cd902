"""Redis pub/sub backend of the bus (NCHAT_REDIS_URL)."""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as redis
import structlog
from redis.exceptions import RedisError

from nchat.realtime.bus import RETRY_S, Bus, PostgresBus
from nchat.realtime.topics import EPHEMERAL, EVENTS

log = structlog.get_logger("nchat.bus")


class RedisBus(Bus):
    def __init__(self, url: str) -> None:
        super().__init__()
        self._client = redis.Redis.from_url(url)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        self._task = asyncio.create_task(self._keep_subscribed())

    async def stop(self) -> None:
        await super().stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.aclose()

    async def _send(self, topic: str, payload: str) -> None:
        # Twice: a pooled connection may have died since its last use (Redis restarted, a
        # proxy dropped it, a CLIENT KILL), and that first use fails without a retry; the
        # pool then drops it and the second try connects afresh.
        for attempt in range(2):
            try:
                await self._client.publish(topic, payload)
                return
            except (RedisError, OSError) as exc:
                if attempt:
                    self._send_failed(topic)
                    log.warning("bus publish failed", error=str(exc))

    async def _keep_subscribed(self) -> None:
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(EVENTS, EPHEMERAL)
                await self._connected()
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        topic = message["channel"].decode()
                        self._deliver(topic, message["data"].decode())
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.warning("redis bus connection lost; retrying", error=str(exc))
            finally:
                self.connected.clear()
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RETRY_S)


def make_bus(*, database_url: str, redis_url: str | None) -> Bus:
    """Redis when configured, else PostgreSQL's LISTEN/NOTIFY."""
    if redis_url:
        return RedisBus(redis_url)
    return PostgresBus(database_url)
