"""What notifications run in a process beside the job queue's worker: the notifier that
follows the event log, and the senders the push and email jobs use (`nchat serve` and
`nchat worker`, through nchat.background)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import procrastinate
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.appstate import Key
from nchat.config import Settings
from nchat.notifications import apns, fcm, tasks, vapid
from nchat.notifications.delivery import Delivery, Sender
from nchat.notifications.follower import Follower
from nchat.notifications.outcome import Platform
from nchat.notifications.webpush import WebPushSender
from nchat.observability import Metrics

VAPID_PUBLIC_KEY: Key[str] = Key("vapid_public_key")


@dataclass
class Notifications:
    delivery: Delivery
    follower: Follower
    vapid_public_key: str

    def job_context(self) -> dict[str, Any]:
        """What the notification jobs find in their context."""
        return {tasks.CONTEXT: self.delivery}

    async def start(self) -> None:
        """Once the job queue is open: the notifier defers through it."""
        await self.follower.start()

    async def stop(self) -> None:
        await self.follower.stop()

    async def aclose(self) -> None:
        """After the jobs stopped: the senders' connections."""
        await self.delivery.aclose()


def make(
    settings: Settings, engine: AsyncEngine, metrics: Metrics, jobs: procrastinate.App
) -> Notifications:
    """The notifier and senders, their tasks registered on `jobs`."""
    key = vapid.load(settings)
    senders: dict[Platform, Sender] = {
        Platform.WEBPUSH: WebPushSender(settings, vapid.Signer(key, settings.vapid_subject))
    }
    if apns.configured(settings):
        senders[Platform.APNS] = apns.ApnsSender(settings)
    if fcm.configured(settings):
        senders[Platform.FCM] = fcm.FcmSender(settings)
    tasks.register(jobs)
    return Notifications(
        delivery=Delivery(engine, settings, metrics, senders),
        follower=Follower(engine, settings, jobs, metrics),
        vapid_public_key=vapid.public_key(key),
    )
