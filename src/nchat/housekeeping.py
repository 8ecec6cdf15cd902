"""Periodic cleanup, a job on the queue every five minutes: whichever process's worker takes
it runs it (procrastinate defers one job per period however many processes run). Each step
is idempotent and bounded, so a run that overlaps a slow one only repeats harmless deletes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import procrastinate
import structlog
from procrastinate import JobContext
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.auth import ratelimit
from nchat.auth import repository as sessions
from nchat.channels import recent_roots
from nchat.config import Settings
from nchat.files import service as files
from nchat.jobs.queue import QUEUE, drop_stranded
from nchat.limits import postgres as rate_limits
from nchat.messages import content as message_content
from nchat.realtime import log
from nchat.storage import Storage
from nchat.sync import repository as sync

TASK = "housekeeping.run"
CONTEXT = "housekeeping"
CRON = "*/5 * * * *"
# Ended sessions stay listed (and auditable) for a month; offline operations are remembered
# for three months, so a device offline that long does not apply its queue twice.
KEEP_ENDED_SESSIONS = timedelta(days=30)
KEEP_SYNC_OPS = timedelta(days=90)
BATCH = 1000
MAX_BATCHES = 10
Prune = Callable[..., Awaitable[int]]
logger = structlog.get_logger("nchat.housekeeping")


@dataclass(frozen=True)
class Chores:
    engine: AsyncEngine
    settings: Settings
    storage: Storage


def register(app: procrastinate.App) -> None:
    task = app.task(name=TASK, queue=QUEUE, pass_context=True, queueing_lock=TASK)(_run)
    app.periodic(cron=CRON, periodic_id=TASK)(task)


async def _run(context: JobContext, /, timestamp: int, **_: Any) -> None:
    chores: Chores = context.additional_context[CONTEXT]
    await run_once(chores.engine, chores.settings, chores.storage)


async def run_once(engine: AsyncEngine, settings: Settings, storage: Storage) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await ratelimit.prune(
            conn,
            older_than_s=settings.login_window_s,
            known_address_days=settings.login_known_address_days,
        )
        await log.prune(conn, retention_s=settings.event_retention_s)
        await recent_roots.prune(conn)
        await files.sweep(conn, now=now)
    await _in_batches(engine, partial(sessions.prune_ended, before=now - KEEP_ENDED_SESSIONS))
    await _in_batches(engine, partial(sync.prune_ops, before=now - KEEP_SYNC_OPS))
    await _in_batches(engine, drop_stranded)
    # A transaction of its own: a budget's row stays locked only as long as its delete.
    async with engine.begin() as conn:
        await rate_limits.prune(conn)
    await files.remove_queued(engine.begin, storage)
    # Rows written before html was stored (an upgrade, or an older nchat during a rolling
    # one): a batch per transaction, for at most a minute a round (decision 0035).
    await message_content.fill_missing_html(engine.begin)


async def _in_batches(engine: AsyncEngine, prune: Prune) -> None:
    """A batch per transaction, at most MAX_BATCHES a round: the first run after an upgrade
    may find months of rows, and the next round goes on."""
    for _ in range(MAX_BATCHES):
        async with engine.begin() as conn:
            if await prune(conn, limit=BATCH) < BATCH:
                return
