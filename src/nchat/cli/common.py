"""What every command needs: settings, and a database URL (starting the embedded server)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from nchat.config import Settings
from nchat.db.embedded import EmbeddedPostgres

console = Console()
err_console = Console(stderr=True)


@contextmanager
def open_database(settings: Settings) -> Iterator[tuple[str, EmbeddedPostgres | None]]:
    """The configured server's URL, or the embedded one's (started for this block if needed,
    and stopped after it if this process started it)."""
    if settings.database_url:
        yield settings.database_url, None
        return
    embedded = EmbeddedPostgres(settings.data_dir)
    url = embedded.start()
    try:
        yield url, embedded
    finally:
        embedded.stop()


@contextmanager
def database_url(settings: Settings | None = None) -> Iterator[str]:
    with open_database(settings or Settings()) as (url, _):
        yield url
