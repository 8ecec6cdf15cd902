"""The retention run as a job on the queue, once a day: whichever process's worker takes it
runs it (procrastinate defers one job per period however many processes run)."""

from __future__ import annotations

from typing import Any

import procrastinate
from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.jobs.queue import QUEUE
from nchat.retention import service

TASK = "retention.run"
CONTEXT = "retention"
# Daily, at a quiet hour (UTC); `nchat retention run` runs it at any other time.
CRON = "17 3 * * *"


def register(app: procrastinate.App) -> None:
    task = app.task(name=TASK, queue=QUEUE, pass_context=True, queueing_lock=TASK)(_run)
    app.periodic(cron=CRON, periodic_id=TASK)(task)


async def _run(context: JobContext, /, timestamp: int, **_: Any) -> None:
    engine: AsyncEngine = context.additional_context[CONTEXT]
    await service.run(engine.begin)
