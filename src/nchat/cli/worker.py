"""`nchat worker`: the background jobs (pushes, emails, housekeeping) and the notifier,
without HTTP, for scaling them out beside the `nchat serve` processes."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from nchat import background
from nchat.cli.common import console, open_database
from nchat.config import Settings
from nchat.db.engine import create_engine
from nchat.observability import Metrics, configure_logging
from nchat.storage import make_storage


def worker(
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=200, help="Jobs at once (NCHAT_JOB_CONCURRENCY)")
    ] = None,
) -> None:
    """Run background jobs until SIGTERM/SIGINT (the embedded PostgreSQL must be running)."""
    settings = Settings()
    if concurrency is not None:
        settings = settings.model_copy(update={"job_concurrency": concurrency})
    configure_logging(settings.log_level, settings.log_format, settings.log_file)
    with open_database(settings) as (url, _):
        settings = settings.model_copy(update={"database_url": url})
        console.print(f"nchat worker: {settings.job_concurrency} jobs at once", soft_wrap=True)
        asyncio.run(_work(settings))


async def _work(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    engine = create_engine(str(settings.database_url), pool_size=settings.db_pool_size)
    storage = make_storage(settings)
    await storage.start()
    jobs = background.make(settings, engine, Metrics(), storage)
    await jobs.start()
    try:
        await stop.wait()
    finally:
        await jobs.stop()
        await engine.dispose()
        await storage.stop()
    console.print("nchat worker stopped")
