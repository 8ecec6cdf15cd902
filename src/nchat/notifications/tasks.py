"""The notification jobs on the queue: a message's pushes, a person's email, and a rescue
each minute for rows whose job was never deferred (a process gone between its commit and
the defer)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
from procrastinate import JobContext, RetryStrategy

from nchat.jobs.queue import QUEUE, defer
from nchat.notifications import repository as repo
from nchat.notifications.delivery import Delivery, deliver_pushes
from nchat.notifications.emailing import email_person

PUSH = "notifications.push"
EMAIL = "notifications.email"
RESCUE = "notifications.rescue"
CONTEXT = "notifications"
RESCUE_AFTER = timedelta(minutes=1)
KEEP = timedelta(days=7)
# A database or SMTP server away: try again after 10 s, 20 s, 40 s... for about an hour.
RETRY = RetryStrategy(max_attempts=9, exponential_wait=10)


def register(app: procrastinate.App) -> None:
    # On nchat's queue, the one the workers take jobs from: the schedule defers a periodic
    # task to the task's own queue.
    app.task(name=PUSH, queue=QUEUE, pass_context=True, retry=RETRY)(_push)
    app.task(name=EMAIL, queue=QUEUE, pass_context=True, retry=RETRY)(_email)
    rescue = app.task(name=RESCUE, queue=QUEUE, pass_context=True)(_rescue)
    app.periodic(cron="* * * * *", periodic_id=RESCUE)(rescue)


async def defer_push(jobs: procrastinate.App, message_id: uuid.UUID, due: datetime) -> None:
    key = f"push:{message_id}"
    await defer(
        jobs,
        PUSH,
        queueing_lock=key,
        lock=key,
        schedule_at=due,
        task_kwargs={"message_id": str(message_id)},
    )


async def defer_email(jobs: procrastinate.App, user_id: uuid.UUID, due: datetime) -> None:
    key = f"email:{user_id}"
    await defer(
        jobs,
        EMAIL,
        queueing_lock=key,
        lock=key,
        schedule_at=due,
        task_kwargs={"user_id": str(user_id)},
    )


def _delivery(context: JobContext) -> Delivery:
    delivery: Delivery = context.additional_context[CONTEXT]
    return delivery


async def _push(context: JobContext, message_id: str) -> None:
    retry = await deliver_pushes(_delivery(context), uuid.UUID(message_id))
    if retry is not None:
        await defer_push(context.app, uuid.UUID(message_id), retry.at)


async def _email(context: JobContext, user_id: str) -> None:
    next_due = await email_person(_delivery(context), uuid.UUID(user_id))
    if next_due is not None:
        await defer_email(context.app, uuid.UUID(user_id), next_due)


async def _rescue(context: JobContext, /, timestamp: int, **_: Any) -> None:
    delivery = _delivery(context)
    now = datetime.now(UTC)
    async with delivery.engine.begin() as conn:
        messages = await repo.pending_messages(conn, overdue=now - RESCUE_AFTER)
        people = await repo.pending_emails(conn, overdue=now - RESCUE_AFTER)
        await repo.prune(conn, before=now - KEEP)
    for message_id, due in messages:
        await defer_push(context.app, message_id, due)
    for user_id in people:
        await defer_email(context.app, user_id, now)
