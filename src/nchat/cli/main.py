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
from nchat.cli import database, migrate, users
from nchat.cli.common import console, open_database
from nchat.config import Settings
from nchat.db import migrate as migrations

app = typer.Typer(help="nchat: a self-hosted team chat server.", no_args_is_help=True)
db_app = typer.Typer(
    help="Database: migrations, doctor, backup, restore, schema report.", no_args_is_help=True
)
db_app.add_typer(migrate.app, name="migrate")
database.register(db_app)
app.add_typer(db_app, name="db")
app.add_typer(users.app, name="user")


@app.command()
def version() -> None:
    """Print the version."""
    console.print(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (NCHAT_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (NCHAT_PORT)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
    no_migrate: Annotated[bool, typer.Option("--no-migrate", help="Skip migrations")] = False,
) -> None:
    """Serve the API (starting the embedded PostgreSQL when NCHAT_DATABASE_URL is unset)."""
    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    settings.jwt_secret  # noqa: B018 - create the key file once, before workers race for it
    # uvicorn re-raises SIGTERM after its graceful shutdown; turning it into SystemExit lets
    # the embedded PostgreSQL be stopped on the way out.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    with open_database(settings) as (url, embedded):
        if not no_migrate:
            migrations.upgrade(url)
        where = f"embedded PostgreSQL in {embedded.pgdata}" if embedded else "external PostgreSQL"
        console.print(f"nchat {__version__} on http://{host}:{port} ({where})")
        console.print(
            "First run? Finish setup with POST /api/setup "
            f"(see http://{host}:{port}/api/docs), or `nchat user create --role owner`."
        )
        if workers == 1:
            uvicorn.run(
                create_app(settings.model_copy(update={"database_url": url})),
                host=host,
                port=port,
                log_level="warning",
                ws="websockets-sansio",
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
            )


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    app()
