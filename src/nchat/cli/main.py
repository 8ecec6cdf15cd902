"""The `nchat` command."""

from __future__ import annotations

import os
import signal
from types import FrameType
from typing import Annotated

import typer
import uvicorn

from nchat import __version__
from nchat.app import create_app
from nchat.cli import config, database, maintenance, migrate, retention, search, storage, users
from nchat.cli.common import console, open_database
from nchat.cli.worker import worker
from nchat.config import Settings, default_workers
from nchat.db import migrate as migrations

app = typer.Typer(help="nchat: a self-hosted team chat server.", no_args_is_help=True)
db_app = typer.Typer(
    help="Database: migrations, doctor, backup, restore, schema report, stats, maintenance.",
    no_args_is_help=True,
)
db_app.add_typer(migrate.app, name="migrate")
database.register(db_app)
app.add_typer(db_app, name="db")
app.add_typer(users.app, name="user")
app.add_typer(storage.app, name="storage")
app.add_typer(search.app, name="search")
app.add_typer(config.app, name="config")
app.add_typer(maintenance.app, name="maintenance")
app.add_typer(retention.app, name="retention")
app.command()(worker)


SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class ShutdownRequested(SystemExit):
    """Raised by the first SIGTERM/SIGINT; unwinds everything that has to be undone."""


def _shutdown_on_signal(signum: int, _frame: FrameType | None) -> None:
    # Only once: a second signal must not interrupt stopping the embedded PostgreSQL.
    for other in SHUTDOWN_SIGNALS:
        signal.signal(other, signal.SIG_IGN)
    raise ShutdownRequested(0)


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


# A client's frames are small (the largest, a presence subscription of 200 users, is about
# 8 KB; a GraphQL subscribe carries one query): uvicorn's default of 16 MiB is far more
# than a socket needs to be allowed to make the server hold.
WS_MAX_FRAME_BYTES = 64 * 1024


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (NCHAT_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (NCHAT_PORT)")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="Worker processes (NCHAT_WORKERS; default: one per core, at most 4)"
        ),
    ] = None,
    no_migrate: Annotated[bool, typer.Option("--no-migrate", help="Skip migrations")] = False,
) -> None:
    """Serve the API (starting the embedded PostgreSQL when NCHAT_DATABASE_URL is unset)."""
    settings = Settings()
    host = settings.host if host is None else host
    port = settings.port if port is None else port
    if workers is None:
        workers = settings.workers or default_workers()
    settings.jwt_secret  # noqa: B018 - create the key file once, before workers race for it
    # uvicorn handles SIGTERM/SIGINT while it serves, then restores these handlers and raises
    # the signal again; outside uvicorn (starting, migrating, stopping) they land here too.
    # Either way the signal becomes an exception that unwinds `open_database`, so the embedded
    # PostgreSQL is stopped on the way out, and the process then exits 0 (a requested
    # shutdown is not a failure: systemd and friends count exit 143 as one).
    for signum in SHUTDOWN_SIGNALS:
        signal.signal(signum, _shutdown_on_signal)
    try:
        _serve(settings, host=host, port=port, workers=workers, migrate=not no_migrate)
    except ShutdownRequested:
        raise typer.Exit(0) from None


def _migrate_unless_newer(url: str) -> None:
    """Migrate, unless a newer nchat migrated the database: then serve on it as it is when
    its newer migrations only add (a rollback during a rolling upgrade), else refuse."""
    newer = migrations.ahead(url)
    if newer is None:
        migrations.upgrade(url)
        return
    unknown = ", ".join(newer.unknown) or newer.revision
    if not newer.compatible:
        console.print(
            f"[red]The database was migrated by a newer nchat ({unknown}) in a way this "
            f"version cannot run on.[/red] Run that version, or restore the backup taken "
            "before the upgrade (`nchat db restore --force FILE`).",
            soft_wrap=True,
        )
        raise typer.Exit(1)
    console.print(
        f"The database was migrated by a newer nchat ({unknown}); its migrations only add, "
        "so this version serves on it without migrating.",
        soft_wrap=True,
    )


def _serve(settings: Settings, *, host: str, port: int, workers: int, migrate: bool) -> None:
    with open_database(settings) as (url, embedded):
        if migrate:
            _migrate_unless_newer(url)
        where = f"embedded PostgreSQL in {embedded.pgdata}" if embedded else "external PostgreSQL"
        # soft_wrap: logs are not terminals; a URL must not be broken at column 80.
        processes = "1 worker" if workers == 1 else f"{workers} workers"
        console.print(
            f"nchat {__version__} on http://{host}:{port} ({where}, {processes})", soft_wrap=True
        )
        console.print(
            f"First run? Open http://{host}:{port}/ in a browser to create the owner "
            "(or POST /api/setup, or `nchat user create --role owner`).",
            soft_wrap=True,
        )
        # nchat reads X-Forwarded-For itself, from NCHAT_TRUSTED_PROXIES only (auth/deps.py
        # client_ip); uvicorn's own handling would believe any local peer by default.
        if workers == 1:
            uvicorn.run(
                create_app(settings.model_copy(update={"database_url": url})),
                host=host,
                port=port,
                log_level="warning",
                ws="websockets-sansio",
                ws_per_message_deflate=settings.ws_compression,
                ws_max_size=WS_MAX_FRAME_BYTES,
                proxy_headers=False,
            )
        else:
            # Workers are fresh processes: they read the resolved URL from the environment.
            os.environ["NCHAT_DATABASE_URL"] = url
            uvicorn.run(
                "nchat.app:create_app_from_env",
                factory=True,
                workers=workers,
                host=host,
                port=port,
                log_level="warning",
                ws="websockets-sansio",
                ws_per_message_deflate=settings.ws_compression,
                ws_max_size=WS_MAX_FRAME_BYTES,
                proxy_headers=False,
            )


if __name__ == "__main__":
    app()
