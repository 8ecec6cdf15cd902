"""`nchat db migrate status|up|down|history`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from nchat.cli.common import console, database_url, fail, operator_errors
from nchat.db import migrate

app = typer.Typer(
    help="Schema migrations (Alembic; history mirrored in schema_migrations).", no_args_is_help=True
)


@app.command()
def status() -> None:
    """Exit 0 with "No pending migrations" when current; list pending ones and exit 1 if not."""
    with operator_errors(), database_url() as url:
        current = migrate.current(url)
        pending = migrate.pending_after(current)
    console.print(f"Current revision: {current or '(none)'}")
    if not pending:
        console.print("No pending migrations")
        return
    console.print(f"{len(pending)} pending migration(s):")
    for rev in pending:
        console.print(f"  {rev.version}  {escape(rev.name)}", soft_wrap=True)
    raise typer.Exit(1)


@app.command()
def up(to: Annotated[str, typer.Option(help="Target revision (default: head)")] = "head") -> None:
    """Apply pending migrations, up to --to."""
    with operator_errors(), database_url() as url:
        before = migrate.current(url)
        migrate.upgrade(url, to)
        after = migrate.current(url)
    console.print(f"Migrated {before or '(empty)'} -> {after or '(empty)'}")


@app.command()
def down(
    to: Annotated[str | None, typer.Option(help="Target revision ('base' for none)")] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="How many revisions to undo")] = None,
) -> None:
    """Undo migrations: exactly one of --to REV or --steps N."""
    if (to is None) == (steps is None):
        raise fail("Give exactly one of --to REV or --steps N", 2)
    with operator_errors(), database_url() as url:
        before = migrate.current(url)
        migrate.downgrade(url, to=to, steps=steps)
        after = migrate.current(url)
    console.print(f"Migrated {before or '(empty)'} -> {after or '(empty)'}")


@app.command()
def history() -> None:
    """Every revision, oldest first, marking the applied ones."""
    with operator_errors(), database_url() as url:
        current = migrate.current(url)
        applied = {r.version for r in migrate.applied_chain(current)}
    table = Table("version", "name", "applied")
    for rev in migrate.history():
        table.add_row(rev.version, escape(rev.name), "yes" if rev.version in applied else "no")
    console.print(table)
