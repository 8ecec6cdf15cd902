"""What every command needs: settings, a database URL (starting the embedded server), and
errors an operator can read instead of tracebacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.exc import DBAPIError

from nchat.config import Settings
from nchat.db.embedded import EmbeddedError, EmbeddedPostgres
from nchat.db.migrate import MigrationError

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` (verbatim: no Rich markup) on stderr; raise the result to exit."""
    err_console.print(escape(message), soft_wrap=True)
    return typer.Exit(code)


@contextmanager
def operator_errors() -> Iterator[None]:
    """Expected failures (database unreachable, unknown revision) become one message and
    exit code 1."""
    try:
        yield
    except MigrationError as exc:
        raise fail(f"Error: {exc}") from exc
    except DBAPIError as exc:
        raise fail(f"Error: the database refused: {exc.orig or exc}") from exc
    except (OSError, EmbeddedError) as exc:
        raise fail(f"Error: cannot reach the database: {exc}") from exc


@contextmanager
def open_database(settings: Settings) -> Iterator[tuple[str, EmbeddedPostgres | None]]:
    """The configured server's URL, or the embedded one's (started for this block if needed,
    and stopped after it if this process started it)."""
    if settings.database_url:
        yield settings.database_url, None
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    try:
        # Inside the try: a signal or failure halfway through starting must still stop it.
        url = embedded.start()
        yield url, embedded
    finally:
        embedded.stop()


@contextmanager
def database_url(settings: Settings | None = None) -> Iterator[str]:
    with open_database(settings or Settings()) as (url, _):
        yield url
