"""`nchat storage check|migrate` for operators."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from nchat.cli.common import console, database_url, fail, operator_errors
from nchat.config import Settings
from nchat.db.engine import create_engine
from nchat.files import check as checks
from nchat.storage import LocalStorage, S3Error, make_storage

app = typer.Typer(
    help="File storage: check it against the database, move it to S3.", no_args_is_help=True
)

T = TypeVar("T")


class Target(enum.StrEnum):
    s3 = "s3"


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(work())
    except S3Error as exc:
        raise fail(f"Error: {exc}") from exc


@app.command("check")
def check_command(
    sizes_only: Annotated[
        bool, typer.Option("--sizes-only", help="Compare sizes only, without reading every object")
    ] = False,
) -> None:
    """Every file row's object exists with its recorded size and sha256; lists objects that no
    row names. Exit 1 when an object is missing or differs."""
    settings = Settings()
    with operator_errors(), database_url(settings) as url:

        async def work() -> checks.Report:
            engine = create_engine(url, pool_size=1)
            storage = make_storage(settings)
            await storage.start()
            try:
                total = await checks.count_files(engine)
                with _bar("checking", total, bytes_=False) as (bar, task):
                    return await checks.check(
                        engine,
                        storage,
                        hashes=not sizes_only,
                        progress=lambda n: bar.advance(task, n),
                    )
            finally:
                await storage.stop()
                await engine.dispose()

        report = _run(work)
    console.print(f"{report.checked} files checked in the {settings.storage_backend} store")
    for label, keys in (
        ("missing", report.missing),
        ("size differs", report.wrong_size),
        ("sha256 differs", report.wrong_sha256),
        ("no row (can be removed)", report.orphans),
    ):
        for key in keys:
            console.print(f"{label}: {key}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)
    console.print("OK")


@app.command("migrate")
def migrate_command(
    to: Annotated[Target, typer.Option("--to", help="The store to copy the local files into")],
) -> None:
    """Copy the local files directory into the S3 store of the NCHAT_S3_* settings, then
    verify every file there. Resumable: run it again after an interruption. Then set
    NCHAT_STORAGE_BACKEND=s3 and restart the nodes."""
    settings = Settings()
    source = LocalStorage(settings.files_dir)
    target = make_storage(settings.model_copy(update={"storage_backend": to.value}))
    with operator_errors(), database_url(settings) as url:

        async def work() -> checks.Report:
            engine = create_engine(url, pool_size=1)
            await target.start()
            try:
                total = await checks.total_bytes(source)
                with _bar("copying", total, bytes_=True) as (bar, task):
                    copied, skipped = await checks.copy_all(
                        source, target, progress=lambda n: bar.advance(task, n)
                    )
                console.print(f"{copied} objects copied, {skipped} there already")
                files = await checks.count_files(engine)
                with _bar("verifying", files, bytes_=False) as (bar, task):
                    return await checks.check(
                        engine, target, hashes=False, progress=lambda n: bar.advance(task, n)
                    )
            finally:
                await target.stop()
                await engine.dispose()

        report = _run(work)
    if not report.ok:
        for key in [*report.missing, *report.wrong_size]:
            console.print(f"not in the S3 store as recorded: {key}", highlight=False)
        raise typer.Exit(1)
    console.print(
        f"All {report.checked} files are in the S3 store. Now set NCHAT_STORAGE_BACKEND=s3 on "
        "every node and restart them; keep the local directory until they run on S3."
    )


@contextmanager
def _bar(label: str, total: int, *, bytes_: bool) -> Iterator[tuple[Progress, TaskID]]:
    counter = DownloadColumn() if bytes_ else TextColumn("{task.completed}/{task.total}")
    with Progress(
        TextColumn(label),
        BarColumn(),
        counter,
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        yield progress, progress.add_task("", total=total)
