"""The bus: a tiny pub/sub between processes and nodes. It carries wake-ups ("new events were
committed", the payloads stay in the log) and ephemeral signals (typing), nothing durable.

Two backends: PostgreSQL LISTEN/NOTIFY (the default: no extra service) and Redis pub/sub
(NCHAT_REDIS_URL). A lost connection is re-established in the background; meanwhile the
hub falls back to polling the log, so nothing is lost, only later."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

from nchat.db.engine import libpq_url
from nchat.realtime.topics import EPHEMERAL, EVENTS

log = structlog.get_logger("nchat.bus")

RETRY_S = 1.0

Listener = Callable[[str, str], None]  # (topic, payload)


class Bus:
    """Interface and shared plumbing. Listeners are plain callbacks run on the event loop.

    Publishing never waits on the network: messages go to an outbox that one task sends in
    order, and wake-ups for new events coalesce (a hundred commits in a burst cost one
    notification, since the readers fetch everything new from the log anyway)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self.connected = asyncio.Event()
        self._outbox: deque[tuple[str, str]] = deque()
        self._wake_pending = False
        self._kick = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _deliver(self, topic: str, payload: str) -> None:
        for listener in self._listeners:
            listener(topic, payload)

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
                self._wake_pending = False
                await self._send(EVENTS, "")
            while self._outbox:
                await self._send(*self._outbox.popleft())

    async def _send(self, topic: str, payload: str) -> None:
        raise NotImplementedError


class PostgresBus(Bus):
    def __init__(self, database_url: str) -> None:
        super().__init__()
        self._dsn = libpq_url(database_url)
        self._conn: asyncpg.Connection[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

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
            return  # the hubs poll the log, so a missed wake-up only delays delivery
        try:
            await conn.execute("SELECT pg_notify($1, $2)", topic, payload)
        except (asyncpg.PostgresError, OSError) as exc:
            log.warning("bus publish failed", error=str(exc))

    async def _keep_connected(self) -> None:
        while True:
            conn: asyncpg.Connection[Any] | None = None
            try:
                conn = await asyncpg.connect(self._dsn)
                self._conn = conn
                await conn.add_listener(EVENTS, self._on_notify)
                await conn.add_listener(EPHEMERAL, self._on_notify)
                conn.add_termination_listener(lambda _c: self._lost.set())
                self._lost.clear()
                self.connected.set()
                # Whatever was committed while we were away is in the log: wake the readers.
                self._deliver(EVENTS, "")
                await self._lost.wait()
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
                log.warning("bus connection failed; retrying", error=str(exc))
            finally:
                # Also on cancellation (stop): never leave the listening connection behind.
                self.connected.clear()
                self._conn = None
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(RETRY_S)

    def _on_notify(self, _conn: Any, _pid: int, channel: str, payload: object) -> None:
        self._deliver(channel, str(payload))
