"""Redis pub/sub backend of the bus (NCHAT_REDIS_URL).

Channel names are global to a Redis server, so each carries a prefix: NCHAT_REDIS_PREFIX, or
else one named after the database (docs/decisions/0011-redis-channel-prefix.md). The bus
then spans exactly the processes that share an event log, as LISTEN/NOTIFY does, and two
deployments on one Redis neither wake each other's nodes nor see each other's signals.

A subscriber only reads, so a connection whose peer vanished without a word (a host gone,
a NAT or load balancer that forgot the flow, a hung server) would look idle for good: after
PING_S of quiet the bus sends a PING, and a connection that stays quiet for PING_S more is
treated as lost."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import redis.asyncio as redis
import structlog
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from nchat.db.engine import libpq_url
from nchat.realtime.bus import PG_CONNECTION_ERRORS, RETRY_S, Bus, PostgresBus
from nchat.realtime.topics import EPHEMERAL, EVENTS

logger = structlog.get_logger("nchat.bus")

PING_S = 5.0
# Every command and connect is bounded (older redis-py waits forever by default): a publish
# on a connection that went silent fails and is retried instead of holding the sender.
SOCKET_TIMEOUT_S = 5.0
# What a lost connection raises: Redis's, and PostgreSQL's while the channels are named.
CONNECTION_ERRORS = (RedisError, *PG_CONNECTION_ERRORS)
# redis-py's close can wait forever for a socket to finish closing (redis-py issue 3941): a
# node stopping, or reconnecting after a cut connection, hung on it now and then.
CLOSE_TIMEOUT_S = 1.0


class RedisBus(Bus):
    def __init__(self, url: str, *, database_url: str, prefix: str | None = None) -> None:
        super().__init__()
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=SOCKET_TIMEOUT_S,
            # No reconnecting inside redis-py: it would resubscribe without the catch-up of
            # _connected(), so every lost connection has to surface here.
            retry=Retry(NoBackoff(), 0),
        )
        self._database_url = database_url
        self._prefix = prefix
        self._channels: dict[str, str] = {}  # topic -> Redis channel, once the prefix is known
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
        with contextlib.suppress(TimeoutError, RedisError, OSError):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await self._client.aclose()

    async def _send(self, topic: str, payload: str) -> None:
        channel = self._channels.get(topic)
        if channel is None:  # not named yet, so not subscribed either: as if disconnected
            self._send_failed(topic)
            return
        # Twice: a pooled connection may have died since its last use (Redis restarted, a
        # proxy dropped it, a CLIENT KILL), and that first use fails without a retry; the
        # pool then drops it and the second try connects afresh.
        for attempt in range(2):
            try:
                await self._client.publish(channel, payload)
                return
            except (RedisError, OSError) as exc:
                if attempt:
                    self._send_failed(topic)
                    logger.warning("bus publish failed", error=str(exc))

    async def _keep_subscribed(self) -> None:
        while True:
            pubsub = self._client.pubsub()
            try:
                channels = await self._named_channels()
                await pubsub.subscribe(*channels.values())
                await self._listen(pubsub, channels)
            except asyncio.CancelledError:
                raise
            except CONNECTION_ERRORS as exc:
                logger.warning("redis bus connection lost; retrying", error=str(exc))
            finally:
                self.connected.clear()
                await _close(pubsub)
            await asyncio.sleep(RETRY_S)

    async def _named_channels(self) -> dict[str, str]:
        """Named on the first connection (the database may be away when the bus starts), and
        kept: one query per process."""
        if not self._channels:
            prefix = self._prefix or await database_prefix(self._database_url)
            self._channels = {topic: f"{prefix}:{topic}" for topic in (EVENTS, EPHEMERAL)}
        return self._channels

    async def _listen(self, pubsub: PubSub, channels: dict[str, str]) -> None:
        """Deliver until the connection fails or stops answering. Connected once the server
        has confirmed every subscription: from then on nothing published is missed, so that
        is when the readers catch up on the log."""
        topics = {channel.encode(): topic for topic, channel in channels.items()}
        unconfirmed = set(topics)
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=PING_S)
            if message is None:
                if pinged:
                    raise RedisConnectionError(f"no answer to PING within {PING_S} s")
                await pubsub.ping()
                pinged = True
                continue
            pinged = False  # anything at all shows the connection alive
            if message["type"] == "subscribe" and unconfirmed:
                unconfirmed.discard(message["channel"])
                if not unconfirmed:
                    await self._connected()
            elif message["type"] == "message" and message["channel"] in topics:
                self._deliver(topics[message["channel"]], message["data"].decode())


async def _close(pubsub: PubSub) -> None:
    """Close a subscription, waiting a moment at most; then drop its socket without waiting
    for the close to finish."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            # Typed in redis-py 8.2 and later, untyped before.
            await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
    except TimeoutError:
        connection = pubsub.connection
        if connection is not None:
            with contextlib.suppress(RedisError, OSError):
                await connection.disconnect(nowait=True)
    except (RedisError, OSError):
        pass


async def database_prefix(database_url: str) -> str:
    """`nchat:<cluster's system identifier>:<database>`: the same for every process on this
    database however it is reached (another host name, a pooler, other credentials), and
    different for any other database, on this server or another."""
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        name = await conn.fetchval("SELECT current_database()")
        try:
            system = await conn.fetchval("SELECT system_identifier FROM pg_control_system()")
        except asyncpg.InsufficientPrivilegeError:
            # Still the same on every node that uses this role, only less unique.
            logger.warning("pg_control_system() not allowed: set NCHAT_REDIS_PREFIX to be sure")
            return f"nchat:{name}"
    finally:
        await conn.close()
    return f"nchat:{system}:{name}"


def make_bus(*, database_url: str, redis_url: str | None, redis_prefix: str | None = None) -> Bus:
    """Redis when configured (channels prefixed with `redis_prefix`, or else named after the
    database), else PostgreSQL's LISTEN/NOTIFY."""
    if redis_url:
        return RedisBus(redis_url, database_url=database_url, prefix=redis_prefix or None)
    return PostgresBus(database_url)


async def publish_once(
    *,
    database_url: str,
    redis_url: str | None,
    redis_prefix: str | None,
    topic: str,
    payload: str,
) -> None:
    """One message from a process that runs no bus (the CLI), on the bus the servers of this
    database listen to."""
    if redis_url:
        prefix = redis_prefix or await database_prefix(database_url)
        client = redis.Redis.from_url(
            redis_url, socket_timeout=SOCKET_TIMEOUT_S, socket_connect_timeout=SOCKET_TIMEOUT_S
        )
        try:
            await client.publish(f"{prefix}:{topic}", payload)
        finally:
            await client.aclose()
        return
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        await conn.execute("SELECT pg_notify($1, $2)", topic, payload)
    finally:
        await conn.close()
