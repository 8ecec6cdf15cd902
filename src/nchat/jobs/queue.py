"""The job queue: procrastinate on nchat's own PostgreSQL (decision 0042).

Features register their tasks on the App this module makes; every `nchat serve` process and
every `nchat worker` runs a worker that takes jobs from the same table (row locks with SKIP
LOCKED decide who runs which), so adding workers is adding processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import procrastinate
import psycopg
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.db.engine import libpq_url

QUEUE = "nchat"
# How the queue's connections show in pg_stat_activity.
APPLICATION_NAME = "nchat-jobs"
# Scheduled jobs are found by polling (new ones that are due at once arrive by NOTIFY).
POLL_S = 1.0
STOP_TIMEOUT_S = 10.0
RETRY_MIN_S = 1.0
RETRY_MAX_S = 30.0
logger = structlog.get_logger("nchat.jobs")


def make_app(database_url: str, *, pool_max: int = 4) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(
        conninfo=libpq_url(database_url),
        min_size=1,
        max_size=pool_max,
        kwargs={"application_name": APPLICATION_NAME},
    )
    return procrastinate.App(connector=connector)


async def defer(
    app: procrastinate.App, task: str, *, queueing_lock: str | None = None, **options: Any
) -> bool:
    """Defer `task` (a registered name) with `task_kwargs`, `schedule_at`, `lock`...;
    False when a job holding the same queueing lock is already waiting (it does the work)."""
    try:
        await app.configure_task(
            task, queue=QUEUE, queueing_lock=queueing_lock, **options
        ).defer_async()
    except procrastinate.exceptions.AlreadyEnqueued:
        return False
    return True


class Worker:
    """Runs the queue's jobs in this process, `concurrency` at a time, until stopped."""

    def __init__(
        self, app: procrastinate.App, *, concurrency: int, context: dict[str, Any]
    ) -> None:
        self._app = app
        self._concurrency = concurrency
        self._context = context
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._concurrency <= 0:
            return
        # procrastinate logs through the standard library; its per-job lines are noise at
        # nchat's default level.
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
        self._task = asyncio.create_task(self._run(), name="nchat-jobs")

    async def _run(self) -> None:
        # Until stopped (cancelled). procrastinate's worker returns, not raises, when one of
        # its side tasks fails (its heartbeat's connection killed by a PostgreSQL restart),
        # and raises when the database is away or not migrated yet (`serve --no-migrate`).
        # Either way: wait and start again, as the hub and the notifier do.
        pause = RETRY_MIN_S
        while True:
            started = time.monotonic()
            error = None
            try:
                await self._work()
            except (procrastinate.exceptions.ProcrastinateException, psycopg.Error, OSError) as exc:
                error = str(exc)
            # One that ran a good while before it stopped starts again soon.
            if time.monotonic() - started > RETRY_MAX_S:
                pause = RETRY_MIN_S
            logger.warning("job worker stopped; starting again", error=error, after_s=pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)

    async def _work(self) -> None:
        await self._app.run_worker_async(
            queues=[QUEUE],
            concurrency=self._concurrency,
            wait=True,
            install_signal_handlers=False,
            fetch_job_polling_interval=POLL_S,
            delete_jobs="successful",
            shutdown_graceful_timeout=STOP_TIMEOUT_S,
            additional_context=self._context,
        )

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None


_DEPTH = sa.text(
    """
    SELECT count(*) AS waiting,
           coalesce(extract(epoch FROM now() - min(coalesce(j.scheduled_at, e.at))), 0)
               AS oldest_s
    FROM procrastinate_jobs j
    LEFT JOIN LATERAL (
        SELECT min(at) AS at FROM procrastinate_events
        WHERE job_id = j.id AND type = 'deferred'
    ) e ON true
    WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())
    """
)


_STRANDED = sa.text(
    """
    DELETE FROM procrastinate_jobs WHERE id IN (
        SELECT id FROM procrastinate_jobs
        WHERE status = 'todo' AND queue_name <> :queue
        LIMIT :limit FOR UPDATE SKIP LOCKED
    )
    """
)


async def drop_stranded(conn: AsyncConnection, *, limit: int) -> int:
    """Delete up to `limit` jobs waiting on a queue no worker reads: they would wait for
    ever (nchat 0.1.0 deferred its periodic rescue job to procrastinate's default queue, one
    a minute)."""
    result = await conn.execute(_STRANDED, {"queue": QUEUE, "limit": limit})
    return result.rowcount or 0


async def depth(conn: AsyncConnection) -> tuple[int, float]:
    """Jobs due and waiting for a worker, and how long the oldest has waited (seconds)."""
    row = (await conn.execute(_DEPTH)).one()
    return int(row.waiting), float(row.oldest_s)
