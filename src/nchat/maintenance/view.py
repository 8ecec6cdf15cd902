"""What this process knows of maintenance mode, so a request checks it without a query.

Read from the row at start, again whenever a change is announced on the bus (by a server
after its commit, or by the CLI after its own), and every REFRESH_S anyway: a message lost
while the bus was away delays the change here by that much at most. The process that made
a change knows it at once."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.appstate import Key
from nchat.maintenance import repository
from nchat.maintenance.repository import Maintenance
from nchat.realtime.bus import Bus
from nchat.realtime.topics import EPHEMERAL

logger = structlog.get_logger("nchat.maintenance")

REFRESH_S = 5.0
# The bus payload that says "maintenance mode changed: read the row again".
SIGNAL = orjson.dumps({"maintenance_changed": True}).decode()


class MaintenanceView:
    def __init__(self, engine: AsyncEngine, bus: Bus, *, refresh_s: float = REFRESH_S) -> None:
        self.engine = engine
        self.bus = bus
        self.refresh_s = refresh_s
        self.state: Maintenance | None = None
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        bus.listen(self._on_bus)

    async def start(self) -> None:
        """Known before the first request; a database not there yet is looked at again."""
        await self.refresh()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def changed(self, state: Maintenance | None) -> None:
        """After this process committed a change: here at once, elsewhere over the bus."""
        self.state = state
        await self.bus.publish(EPHEMERAL, SIGNAL)

    async def refresh(self) -> None:
        try:
            async with self.engine.connect() as conn:
                self.state = await repository.current(conn)
        except (SQLAlchemyError, OSError) as exc:
            # The last state known stays (a database away is no reason to open or close);
            # said once, not every REFRESH_S (a schema not migrated yet fails the same way).
            if not self._failing:
                logger.warning("maintenance state unreadable; keeping the last", error=str(exc))
            self._failing = True
            return
        if self._failing:
            logger.info("maintenance state readable again")
        self._failing = False

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.refresh_s):
                    await self._kick.wait()
            self._kick.clear()
            await self.refresh()

    def _on_bus(self, topic: str, payload: str) -> None:
        if topic == EPHEMERAL and payload == SIGNAL:
            self._kick.set()


MAINTENANCE: Key[MaintenanceView] = Key("maintenance")
