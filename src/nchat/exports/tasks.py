"""The export jobs on the queue: building one export, and a sweep every five minutes that
removes zips not downloaded within a week, ends exports a stopped worker left half made, and
defers again the jobs of exports whose request committed without its defer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
import psycopg
import structlog
from botocore.exceptions import BotoCoreError, ClientError
from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.appstate import Key
from nchat.exports import builder
from nchat.exports import repository as repo
from nchat.exports.service import KEEP
from nchat.jobs.queue import QUEUE, defer
from nchat.storage import Storage

BUILD = "exports.build"
SWEEP = "exports.sweep"
CONTEXT = "exports"
CRON = "*/5 * * * *"
# An export still in the making after this long lost its worker: it fails, and may be
# asked for again.
STALE = timedelta(hours=6)
# A pending export whose job is not waiting after this long is deferred again.
RESCUE_AFTER = timedelta(minutes=2)
SWEEP_LIMIT = 100
logger = structlog.get_logger("nchat.exports")

# The job queue, for the requests that defer a build (the app puts it here at start).
JOBS: Key[procrastinate.App] = Key("exports.jobs")


@dataclass(frozen=True)
class Work:
    engine: AsyncEngine
    storage: Storage


def register(app: procrastinate.App) -> None:
    # On nchat's queue, the one the workers take jobs from.
    app.task(name=BUILD, queue=QUEUE, pass_context=True)(_build)
    sweep = app.task(name=SWEEP, queue=QUEUE, pass_context=True, queueing_lock=SWEEP)(_sweep)
    app.periodic(cron=CRON, periodic_id=SWEEP)(sweep)


async def defer_build(jobs: procrastinate.App, export_id: uuid.UUID) -> None:
    key = f"export:{export_id}"
    try:
        await defer(jobs, BUILD, queueing_lock=key, task_kwargs={"export_id": str(export_id)})
    except (procrastinate.exceptions.ProcrastinateException, psycopg.Error, OSError) as exc:
        # The request committed: the sweep defers its job again within minutes.
        logger.warning("export job not deferred", export_id=str(export_id), error=str(exc))


def _work(context: JobContext) -> Work:
    work: Work = context.additional_context[CONTEXT]
    return work


async def _build(context: JobContext, export_id: str) -> None:
    work = _work(context)
    await build_export(work.engine, work.storage, uuid.UUID(export_id))


async def build_export(engine: AsyncEngine, storage: Storage, export_id: uuid.UUID) -> None:
    """Build the export if it is still pending (a job run twice builds it once)."""
    async with engine.begin() as conn:
        row = await repo.claim(conn, export_id)
        user = await repo.user_row(conn, row["user_id"]) if row is not None else None
    if row is None:
        return
    if user is None:
        async with engine.begin() as conn:
            await repo.fail(conn, export_id, "the user is gone")
        return
    try:
        key, size = await builder.build(engine.connect, storage, export_id, user)
    except Exception as exc:
        logger.exception("export failed", export_id=str(export_id))
        async with engine.begin() as conn:
            await repo.fail(conn, export_id, f"{type(exc).__name__}: {exc}")
        return
    async with engine.begin() as conn:
        done = await repo.finish(
            conn, export_id, key=key, size=size, expires_at=datetime.now(UTC) + KEEP
        )
    if not done:
        # Ended meanwhile (the sweep judged it stale): nobody will ask for this zip.
        await remove(storage, key)


async def _sweep(context: JobContext, /, timestamp: int, **_: Any) -> None:
    work = _work(context)
    await sweep(work.engine, work.storage, context.app)


async def sweep(
    engine: AsyncEngine, storage: Storage, jobs: procrastinate.App | None = None
) -> int:
    """Expire the zips past their week (the object first, then the row says expired);
    the number expired."""
    now = datetime.now(UTC)
    expired = 0
    async with engine.begin() as conn:
        for row in await repo.expired(conn, now, SWEEP_LIMIT):
            if row["key"] is not None and not await remove(storage, row["key"]):
                continue  # tried again on the next round
            await repo.mark_expired(conn, row["id"])
            expired += 1
        for export_id in await repo.stale(conn, now - STALE, SWEEP_LIMIT):
            await repo.fail(conn, export_id, "not finished in time")
        waiting = await repo.waiting(conn, now - RESCUE_AFTER, SWEEP_LIMIT)
    if jobs is not None:
        for export_id in waiting:
            await defer_build(jobs, export_id)
    return expired


async def remove(storage: Storage, key: str) -> bool:
    """Remove a zip from the store; False (said in the log) when the store refused."""
    try:
        await storage.delete(key)
    except (BotoCoreError, ClientError, OSError) as exc:
        logger.warning("export object not removed", key=key, error=str(exc))
        return False
    return True
