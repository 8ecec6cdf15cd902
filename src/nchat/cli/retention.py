"""`nchat retention run|show`: delete what is past the retention policies now (or count it),
and show the policies."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.cli.common import console, database_url, operator_errors
from nchat.config import Settings
from nchat.db.engine import create_engine
from nchat.retention import repository, service
from nchat.retention.schemas import RunCounts

app = typer.Typer(
    help="Message retention: delete messages past their policy's limit.", no_args_is_help=True
)

T = TypeVar("T")
SHOWN_OVERRIDES = 1000


def _with_engine(work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    with operator_errors(), database_url(Settings()) as url:

        async def runner() -> T:
            engine = create_engine(url, pool_size=1)
            try:
                return await work(engine)
            finally:
                await engine.dispose()

        return asyncio.run(runner())


def _days(days: int | None) -> str:
    return "kept forever" if days is None else f"{days} days"


def _report(counts: RunCounts) -> None:
    verb = "would delete" if counts.dry_run else "deleted"
    console.print(f"Retention {verb} {counts.messages} messages and {counts.files} files.")
    for channel in counts.channels:
        console.print(
            f"  {channel.name or channel.channel_id}: {channel.messages} messages, "
            f"{channel.files} files ({_days(channel.message_days)})",
            markup=False,
            soft_wrap=True,
        )
    if counts.more_channels:
        console.print(f"  (the first {len(counts.channels)} channels shown)")
    if counts.files and not counts.dry_run:
        console.print("Their objects are queued; housekeeping removes them from the store.")


@app.command()
def run(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing")
    ] = False,
) -> None:
    """Delete every message (and its files) past its retention limit now, as the daily job
    does; with --dry-run, count them."""

    async def work(engine: AsyncEngine) -> RunCounts:
        if dry_run:
            async with engine.connect() as conn:
                return await service.dry_run(conn, None)
        return await service.run(engine.begin)

    _report(_with_engine(work))


@app.command()
def show() -> None:
    """The workspace's policy and every channel's own."""

    async def work(engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            workspace = await repository.get_global(conn)
            own = await repository.overrides(conn, SHOWN_OVERRIDES)
        days = None if workspace is None else workspace["message_days"]
        pinned = workspace is not None and workspace["include_pinned"]
        console.print(f"Workspace: messages {_days(days)}{', pinned too' if pinned else ''}.")
        if not own:
            console.print("No channel has a policy of its own.")
        for row in own:
            extra = ", pinned too" if row["include_pinned"] else ""
            console.print(
                f"  {row['name'] or row['channel_id']} ({row['type']}): "
                f"messages {_days(row['message_days'])}{extra}",
                markup=False,
                soft_wrap=True,
            )

    _with_engine(work)
