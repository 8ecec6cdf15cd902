"""Everything notifications run in a process: the job queue's worker, the notifier that
follows the event log, and the senders, started and stopped together (`nchat serve` and
`nchat worker`)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import procrastinate
import psycopg
import psycopg_pool
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.appstate import Key
from nchat.config import Settings
from nchat.jobs.queue import Worker, make_app
from nchat.notifications import apns, fcm, tasks, vapid
from nchat.notifications.delivery import Delivery, Sender
from nchat.notifications.follower import Follower
from nchat.notifications.outcome import Platform
from nchat.notifications.webpush import WebPushSender
from nchat.observability import Metrics

VAPID_PUBLIC_KEY: Key[str] = Key("vapid_public_key")
logger = structlog.get_logger("nchat.notifications")


@dataclass
class Notifications:
    jobs: procrastinate.App
    delivery: Delivery
    worker: Worker
    follower: Follower
    vapid_public_key: str
    _starting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Starts in the background: a database not reachable yet must not hold up the
        server's start (the readiness check reports it); the queue opens once it is."""
        self._starting = asyncio.create_task(self._start(), name="nchat-notifications-start")

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
            pause = min(pause * 2, 30.0)
        await self.worker.start()
        await self.follower.start()

    async def stop(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starting
        await self.follower.stop()
        await self.worker.stop()
        # Also when the start was cancelled half way: an open pool's workers swallow the
        # cancellation that ends the event loop (psycopg_pool keeps itself consistent that
        # way), so a pool left open holds the process at exit for good.
        await self.jobs.close_async()
        await self.delivery.aclose()


def make(settings: Settings, engine: AsyncEngine, metrics: Metrics) -> Notifications:
    key = vapid.load(settings)
    senders: dict[Platform, Sender] = {
        Platform.WEBPUSH: WebPushSender(settings, vapid.Signer(key, settings.vapid_subject))
    }
    if apns.configured(settings):
        senders[Platform.APNS] = apns.ApnsSender(settings)
    if fcm.configured(settings):
        senders[Platform.FCM] = fcm.FcmSender(settings)
    delivery = Delivery(engine, settings, metrics, senders)
    jobs = make_app(str(settings.database_url))
    tasks.register(jobs)
    worker = Worker(jobs, concurrency=settings.job_concurrency, context={tasks.CONTEXT: delivery})
    return Notifications(
        jobs=jobs,
        delivery=delivery,
        worker=worker,
        follower=Follower(engine, settings, jobs, metrics),
        vapid_public_key=vapid.public_key(key),
    )
