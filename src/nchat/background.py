"""The background work of a process (`nchat serve` and `nchat worker`): one job queue
(decision 0042) with every feature's tasks (notifications, housekeeping, retention, data
exports, the removal of deleted channels), run by this process's worker, and the notifier
that feeds it. Started in the background and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import procrastinate
import psycopg
import psycopg_pool
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat import housekeeping
from nchat.admin_channels import tasks as channel_purge
from nchat.appstate import Key
from nchat.config import Settings
from nchat.exports import tasks as exports
from nchat.jobs.queue import Worker, make_app
from nchat.notifications import runtime as notifications_runtime
from nchat.notifications.runtime import Notifications
from nchat.observability import Metrics
from nchat.retention import tasks as retention
from nchat.storage import Storage

RETRY_MAX_S = 30.0
logger = structlog.get_logger("nchat.background")


@dataclass
class Background:
    jobs: procrastinate.App
    worker: Worker
    notifications: Notifications
    _starting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Starts in the background: a database not reachable yet must not hold up the
        server's start (the readiness check reports it); the queue opens once it is."""
        self._starting = asyncio.create_task(self._start(), name="nchat-background-start")

    async def _start(self) -> None:
        pause = 1.0
        while True:
            try:
                await self.jobs.open_async()
                break
            except (psycopg.Error, psycopg_pool.PoolTimeout, OSError) as exc:
                logger.warning("job queue unreachable; retrying", error=str(exc))
                await self.jobs.close_async()
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)
        await self.worker.start()
        await self.notifications.start()

    async def stop(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        await self.notifications.stop()
        await self.worker.stop()
        # Also when the start was cancelled half way: an open pool's workers swallow the
        # cancellation that ends the event loop (psycopg_pool keeps itself consistent that
        # way), so a pool left open holds the process at exit for good.
        await self.jobs.close_async()
        await self.notifications.aclose()


BACKGROUND: Key[Background] = Key("background")


def make(settings: Settings, engine: AsyncEngine, metrics: Metrics, storage: Storage) -> Background:
    jobs = make_app(str(settings.database_url))
    notifications = notifications_runtime.make(settings, engine, metrics, jobs)
    housekeeping.register(jobs)
    retention.register(jobs)
    exports.register(jobs)
    channel_purge.register(jobs)
    context = {
        **notifications.job_context(),
        housekeeping.CONTEXT: housekeeping.Chores(engine, settings, storage),
        retention.CONTEXT: engine,
        exports.CONTEXT: exports.Work(engine, storage),
        channel_purge.CONTEXT: engine,
    }
    worker = Worker(jobs, concurrency=settings.job_concurrency, context=context)
    return Background(jobs=jobs, worker=worker, notifications=notifications)
