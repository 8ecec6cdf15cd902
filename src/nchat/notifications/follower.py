"""The notifier: follows the event log and decides, for each new message, whom to tell and
when; the jobs it defers deliver once the delays are over (decision 0042).

It reads the log rather than being called by the send, so the send does no more work than
before and a notification is decided exactly once: the rows and the new log position commit
together, under a lock only one process holds at a time (the others skip)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime

import procrastinate
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.config import Settings
from nchat.notifications import mailer, tasks
from nchat.notifications import repository as repo
from nchat.observability import Metrics
from nchat.realtime import log
from nchat.realtime.cursor import Position

POLL_S = 0.5
MAX_PAUSE_S = 15.0
BATCH = 500
logger = structlog.get_logger("nchat.notifications")


async def step(
    engine: AsyncEngine, settings: Settings, jobs: procrastinate.App, metrics: Metrics
) -> bool:
    """Decide for the next events; True when more are waiting."""
    async with engine.begin() as conn:
        held = await repo.lock_position(conn)
        if held is None:
            return False
        tail = await log.tail(conn, Position(held[0], held[1], 0), limit=BATCH)
        message_ids = [
            uuid.UUID(row["data"]["id"]) for row in tail.rows if row["type"] == "message.created"
        ]
        decided = []
        if message_ids:
            decided = await repo.decide(
                conn,
                message_ids,
                push_delay_s=settings.push_delay_s,
                email_delay_s=settings.email_delay_s,
                email=mailer.configured(settings),
            )
        # Only after reading events: past an empty read the next one finds nothing new
        # either, and an idle notifier writes nothing.
        if tail.rows:
            await repo.move_position(conn, tail.end.xid, tail.end.id)
    pushes: dict[uuid.UUID, datetime] = {}
    emails: dict[uuid.UUID, datetime] = {}
    for row in decided:
        if row["push_state"] == "pending":
            pushes.setdefault(row["message_id"], row["push_due_at"])
            metrics.notifications.labels("push", "queued").inc()
        if row["email_state"] == "pending":
            emails[row["user_id"]] = min(
                row["email_due_at"], emails.get(row["user_id"], row["email_due_at"])
            )
            metrics.notifications.labels("email", "queued").inc()
    # After the commit: a crash before these leaves rows pending, which the rescue finds.
    for message_id, due in pushes.items():
        await tasks.defer_push(jobs, message_id, due)
    for user_id, due in emails.items():
        await tasks.defer_email(jobs, user_id, due)
    return tail.more


class Follower:
    def __init__(
        self, engine: AsyncEngine, settings: Settings, jobs: procrastinate.App, metrics: Metrics
    ) -> None:
        self._args = (engine, settings, jobs, metrics)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="nchat-notifier")

    async def _run(self) -> None:
        pause = POLL_S
        while True:
            try:
                more = await step(*self._args)
                pause = POLL_S
            except (
                OSError,
                SQLAlchemyError,
                procrastinate.exceptions.ProcrastinateException,
            ) as exc:
                # A database away (or not migrated yet): the position has not moved, nothing
                # is lost; try again less and less often.
                logger.warning("notifier step failed", error=str(exc), retry_after_s=pause)
                more = False
                pause = min(pause * 2, MAX_PAUSE_S)
            if not more:
                await asyncio.sleep(pause)

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
