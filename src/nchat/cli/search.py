"""`nchat search reindex` for operators."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from nchat.cli.common import console, database_url, fail, operator_errors
from nchat.config import Settings
from nchat.db.engine import create_engine
from nchat.errors import NchatError
from nchat.search import language

app = typer.Typer(help="Search: the language words are stemmed for.", no_args_is_help=True)


@app.command()
def reindex(
    lang: Annotated[
        str | None,
        typer.Option("--language", help="Stem for this language (default NCHAT_SEARCH_LANGUAGE)"),
    ] = None,
) -> None:
    """Switch the search language and rebuild every message's words with a progress bar.
    Nodes keep running: searches find the messages rebuilt so far by the new rules, and new
    messages are indexed by them at once."""
    settings = Settings()
    wanted = lang or settings.search_language
    with operator_errors(), database_url(settings) as url:

        async def work() -> int:
            engine = create_engine(url, pool_size=1)
            try:
                async with engine.begin() as conn:
                    await language.switch(conn, wanted)
                total = await language.count(engine)
                columns = (TextColumn("rebuilding"), BarColumn(), TimeRemainingColumn())
                with Progress(*columns, console=console, transient=True) as bar:
                    task = bar.add_task("", total=total)
                    return await language.rebuild(engine, lambda n: bar.advance(task, n))
            finally:
                await engine.dispose()

        try:
            done = asyncio.run(work())
        except NchatError as exc:
            raise fail(f"Error: {exc.message}") from exc
    console.print(f"Search stems for {wanted} now; {done} messages rebuilt.")
