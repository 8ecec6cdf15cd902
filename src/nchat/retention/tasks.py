"""The retention run as a job on the queue, once a day: whichever process's worker takes it
runs it (procrastinate defers one job per period however many processes run)."""

from __future__ import annotations

from typing import Any

import procrastinate
import structlog
from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.jobs.queue import QUEUE
from nchat.retention import repository, service

TASK = "retention.run"
CONTEXT = "retention"
# Daily, at a quiet hour (UTC); `nchat retention run` runs it at any other time.
CRON = "17 3 * * *"
logger = structlog.get_logger("nchat.retention")


def register(app: procrastinate.App) -> None:
    task = app.task(name=TASK, queue=QUEUE, pass_context=True, queueing_lock=TASK)(_run)
    app.periodic(cron=CRON, periodic_id=TASK)(task)


async def _run(context: JobContext, /, timestamp: int, **_: Any) -> None:
    engine: AsyncEngine = context.additional_context[CONTEXT]
    async with engine.connect() as conn:
        paused = await repository.under_maintenance(conn)
    if paused:
        # Nothing is deleted behind an upgrade's back; tomorrow's run (or
        # `nchat retention run`) catches up.
        logger.info("retention run skipped: maintenance mode is on")
        return
    await service.run(engine.begin)
