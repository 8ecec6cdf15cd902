"""Tests of the database tooling (`nchat db doctor|backup|restore|schema-report`).

Shared helpers live here: each test works on throwaway databases of its own on the test
server (embedded or external), and drives the real CLI.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
from typer.testing import CliRunner, Result

from nchat.cli.main import app
from nchat.db import migrate
from nchat.db.engine import libpq_url
from tests.fixtures.databases import create_database, drop_database, with_database

UNREACHABLE_URL = "postgresql://nchat:s3cret-pw@127.0.0.1:1/nchat"


@contextmanager
def fresh_database(server_url: str, *, migrated: bool = True) -> Iterator[str]:
    """A database of its own for one test (or module), dropped afterwards."""
    name = f"nchat_dbtool_{uuid.uuid4().hex[:12]}"
    create_database(server_url, name)
    url = with_database(server_url, name)
    try:
        if migrated:
            migrate.upgrade(url)
        yield url
    finally:
        drop_database(server_url, name)


def cli(url: str, *args: str) -> Result:
    """`nchat db ARGS` in this process, against `url`."""
    return CliRunner().invoke(app, ["db", *args], env={"NCHAT_DATABASE_URL": url})


def nchat_executable() -> str:
    """The console script installed next to this interpreter (this checkout's nchat)."""
    beside = Path(sys.executable).parent / "nchat"
    found = str(beside) if beside.exists() else shutil.which("nchat")
    assert found, "the nchat console script is not installed"
    return found


def run_nchat(url: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed `nchat db ARGS` as a child process, with stdin not a terminal."""
    return subprocess.run(
        [nchat_executable(), "db", *args],
        env={**os.environ, "NCHAT_DATABASE_URL": url},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sql(url: str, statements: str) -> None:
    """Run SQL (several statements allowed) in one transaction."""

    async def go() -> None:
        conn = await asyncpg.connect(libpq_url(url))
        try:
            async with conn.transaction():
                await conn.execute(statements)
        finally:
            await conn.close()

    asyncio.run(go())


def fetch(url: str, query: str) -> list[tuple[Any, ...]]:
    async def go() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(libpq_url(url))
        try:
            return [tuple(r) for r in await conn.fetch(query)]
        finally:
            await conn.close()

    return asyncio.run(go())


def snapshot(url: str) -> dict[str, tuple[Any, ...]]:
    """Per table of schema public: (row count, md5 of all rows); per sequence: last value."""
    state: dict[str, tuple[Any, ...]] = {}
    tables = fetch(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    for (table,) in tables:
        (row,) = fetch(
            url,
            f"SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t::text)) "
            f'FROM public."{table}" t',
        )
        state[f"table {table}"] = row
    for name, last in fetch(
        url, "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'"
    ):
        state[f"sequence {name}"] = (last,)
    return state
