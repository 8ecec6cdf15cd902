"""The bus: a tiny pub/sub between processes and nodes. It carries wake-ups ("new events were
committed", the payloads stay in the log) and ephemeral signals (typing), nothing durable.

Two backends: PostgreSQL LISTEN/NOTIFY (the default: no extra service) and Redis pub/sub
(NCHAT_REDIS_URL). A lost connection is re-established in the background; meanwhile the
hub falls back to polling the log, so nothing is lost, only later."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import deque
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

from nchat.appstate import Key
from nchat.db.engine import libpq_url
from nchat.realtime.topics import EPHEMERAL, EVENTS

logger = structlog.get_logger("nchat.bus")

RETRY_S = 1.0
CHECK_S = 5.0
# At most one "new events" wake-up per this interval from a process: under load a send
# per wake-up was a round trip to publish it and a log read in every process receiving it;
# paced, a burst of commits shares one, and a quiet process still sends at once.
WAKE_INTERVAL_S = 0.005
# How the bus's own connection shows up in pg_stat_activity (and can be found there).
APPLICATION_NAME = "nchat-bus"

Listener = Callable[[str, str], None]  # (topic, payload)

# What a lost or broken connection raises: asyncpg's server and client-side errors (a
# connection cut in the middle of an operation can leave the client "busy" for the next
# one), and the network's.
PG_CONNECTION_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
)


class Bus:
    """Interface and shared plumbing. Listeners are plain callbacks run on the event loop.

    Publishing never waits on the network: messages go to an outbox that one task sends in
    order, and wake-ups for new events coalesce (a hundred commits in a burst cost one
    notification, since the readers fetch everything new from the log anyway), at most one
    per WAKE_INTERVAL_S."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self.connected = asyncio.Event()
        self._outbox: deque[tuple[str, str]] = deque()
        self._wake_pending = False
        self._last_wake = float("-inf")
        self._kick = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        # A wake-up could not be sent while disconnected: send one once connected again, so
        # the other nodes do not wait for their next poll.
        self._missed_wake = False

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _deliver(self, topic: str, payload: str) -> None:
        for listener in self._listeners:
            # One failing listener (say, on a malformed payload from another publisher on the
            # same channel) must neither starve the others nor end the receiving task.
            try:
                listener(topic, payload)
            except Exception:
                logger.exception("bus listener failed", topic=topic)

    async def start(self) -> None:
        self._sender = asyncio.create_task(self._send_loop())

    async def stop(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender

    async def publish(self, topic: str, payload: str = "") -> None:
        if topic == EVENTS:
            self._wake_pending = True
        else:
            self._outbox.append((topic, payload))
        self._kick.set()

    async def _send_loop(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            if self._wake_pending:
                loop = asyncio.get_running_loop()
                wait = self._last_wake + WAKE_INTERVAL_S - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)  # commits meanwhile ride on this wake-up
                self._wake_pending = False
                self._last_wake = loop.time()
                await self._send_safely(EVENTS, "")
            while self._outbox:
                await self._send_safely(*self._outbox.popleft())

    async def _send_safely(self, topic: str, payload: str) -> None:
        """One send; whatever goes wrong is logged and the loop goes on (a dead sender would
        silence this process on the bus for good)."""
        try:
            await self._send(topic, payload)
        except Exception:
            logger.exception("bus publish failed", topic=topic)

    async def _send(self, topic: str, payload: str) -> None:
        raise NotImplementedError

    def _send_failed(self, topic: str) -> None:
        """A message did not go out. The hubs poll the log, so a lost wake-up only delays
        delivery; `_connected` sends one again once the bus is back."""
        self._missed_wake = self._missed_wake or topic == EVENTS

    async def _connected(self) -> None:
        """(Re)connected and listening: whatever was committed while we were away is in the
        log, so wake the readers here and, if a wake-up was lost meanwhile, everywhere."""
        self.connected.set()
        self._deliver(EVENTS, "")
        if self._missed_wake:
            self._missed_wake = False
            await self.publish(EVENTS)


BUS: Key[Bus] = Key("bus")


class PostgresBus(Bus):
    def __init__(self, database_url: str) -> None:
        super().__init__()
        self._dsn = libpq_url(database_url)
        self._conn: asyncpg.Connection[Any] | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await super().start()
        self._task = asyncio.create_task(self._keep_connected())

    async def stop(self) -> None:
        await super().stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _send(self, topic: str, payload: str) -> None:
        conn = self._conn
        if conn is None or conn.is_closed():
            self._send_failed(topic)
            if conn is not None:
                conn.terminate()  # see below
            return
        try:
            await conn.execute("SELECT pg_notify($1, $2)", topic, payload)
        except PG_CONNECTION_ERRORS as exc:
            self._send_failed(topic)
            logger.warning("bus publish failed", error=str(exc))
            if conn.is_closed() or not isinstance(exc, asyncpg.PostgresError):
                # Closed, or in a state no longer known. asyncpg closes a connection on a
                # protocol error without calling its termination listeners: terminate()
                # does, so the keeper notices and reconnects.
                conn.terminate()

    async def _keep_connected(self) -> None:
        while True:
            conn: asyncpg.Connection[Any] | None = None
            try:
                conn = await asyncpg.connect(
                    self._dsn, server_settings={"application_name": APPLICATION_NAME}
                )
                # This connection's own event, watched from before the first await: a
                # connection lost during the LISTENs is never waited on forever.
                lost = asyncio.Event()
                conn.add_termination_listener(functools.partial(_set_on_close, lost))
                await conn.add_listener(EVENTS, self._on_notify)
                await conn.add_listener(EPHEMERAL, self._on_notify)
                # Handed to the sender only now: a publish sent while LISTEN is still running
                # on the same connection fails ("another operation is in progress").
                self._conn = conn
                await self._connected()
                # Also look now and then: a connection closed without its listeners being
                # told (see _send) must not keep this node off the bus for good.
                while not lost.is_set() and not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(CHECK_S):
                            await lost.wait()
            except PG_CONNECTION_ERRORS as exc:
                logger.warning("bus connection failed; retrying", error=str(exc))
            finally:
                # Also on cancellation (stop): never leave the listening connection behind.
                self.connected.clear()
                self._conn = None
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(RETRY_S)

    def _on_notify(self, _conn: Any, _pid: int, channel: str, payload: object) -> None:
        self._deliver(channel, str(payload))


def _set_on_close(event: asyncio.Event, _conn: object) -> None:
    event.set()
