"""The removal of deleted channels' contents as a job on the queue: deferred by each delete
once it commits, and every five minutes, which finishes a removal a stopped worker left half
done (and one whose defer was lost). One job waits at a time; it empties every channel
marked deleted, a batch per transaction."""

from __future__ import annotations

from typing import Any

import procrastinate
import psycopg
import structlog
from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.admin_channels import repository, service
from nchat.appstate import Key
from nchat.jobs.queue import QUEUE, defer

TASK = "channels.purge"
CONTEXT = "channels.purge"
CRON = "*/5 * * * *"
logger = structlog.get_logger("nchat.admin_channels")

# The job queue, for the requests that defer a purge (the app puts it here at start).
JOBS: Key[procrastinate.App] = Key("admin_channels.jobs")


def register(app: procrastinate.App) -> None:
    task = app.task(name=TASK, queue=QUEUE, pass_context=True, queueing_lock=TASK)(_run)
    app.periodic(cron=CRON, periodic_id=TASK)(task)


async def defer_purge(jobs: procrastinate.App) -> None:
    """A purge job soon; none more when one is waiting already (it will see this channel)."""
    try:
        await defer(jobs, TASK, queueing_lock=TASK)
    except (procrastinate.exceptions.ProcrastinateException, psycopg.Error, OSError) as exc:
        # The delete committed: the periodic run empties the channel within minutes.
        logger.warning("channel purge not deferred", error=str(exc))


async def _run(context: JobContext, /, timestamp: int = 0, **_: Any) -> None:
    # `timestamp`: the period's, from the periodic defer; none from a delete's.
    engine: AsyncEngine = context.additional_context[CONTEXT]
    async with engine.connect() as conn:
        paused = await repository.under_maintenance(conn)
    if paused:
        # Nothing is deleted behind an upgrade's back: the channels stay hidden, and the
        # periodic run empties them once maintenance ends.
        logger.info("channel purge skipped: maintenance mode is on")
        return
    removed = await service.purge(engine.begin)
    if removed:
        logger.info("deleted channels emptied", messages=removed)
