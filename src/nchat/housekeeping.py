"""Periodic cleanup every process runs; each step is idempotent, so several workers and nodes
running it at once only repeat harmless deletes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.auth import ratelimit
from nchat.channels import recent_roots
from nchat.config import Settings
from nchat.files import service as files
from nchat.limits import postgres as rate_limits
from nchat.messages import content as message_content
from nchat.realtime import log
from nchat.storage import Storage

INTERVAL_S = 300.0
logger = structlog.get_logger("nchat.housekeeping")


async def run_once(engine: AsyncEngine, settings: Settings, storage: Storage) -> None:
    async with engine.begin() as conn:
        await ratelimit.prune(conn, older_than_s=settings.login_window_s)
        await log.prune(conn, retention_s=settings.event_retention_s)
        await recent_roots.prune(conn)
        await files.sweep(conn, now=datetime.now(UTC))
    # A transaction of its own: a budget's row stays locked only as long as its delete.
    async with engine.begin() as conn:
        await rate_limits.prune(conn)
    await files.remove_queued(engine.begin, storage)
    # Rows written before html was stored (an upgrade, or an older nchat during a rolling
    # one): a batch per transaction, for at most a minute a round (decision 0035).
    await message_content.fill_missing_html(engine.begin)


async def run_forever(engine: AsyncEngine, settings: Settings, storage: Storage) -> None:
    while True:
        await asyncio.sleep(INTERVAL_S)
        try:
            await run_once(engine, settings, storage)
        except (SQLAlchemyError, OSError) as exc:  # the database may be briefly away
            logger.warning("housekeeping failed", error=str(exc))
