"""`nchat db doctor|backup|restore|schema-report`."""

from __future__ import annotations

import typer


def register(db_app: typer.Typer) -> None:
    """Attach the database tooling commands to the `db` group."""
