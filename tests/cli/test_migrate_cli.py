"""`nchat db migrate status|up|down|history`, in process (CliRunner) and as the real
executable, against throwaway databases (and once against the embedded server)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from typer.testing import CliRunner, Result

from nchat.cli.main import app
from nchat.db import migrate
from nchat.db.engine import libpq_url
from tests.fixtures.processes import (
    embedded_data_dir,
    nchat_env,
    postgres_gone,
    postgres_processes,
    run_nchat,
    throwaway_database,
)

runner = CliRunner()


@pytest.fixture
def fresh_url(server_url: str) -> Iterator[str]:
    with throwaway_database(server_url) as url:
        yield url


def nchat(url: str, tmp_path: Path, *args: str) -> Result:
    return runner.invoke(
        app, list(args), env={"NCHAT_DATABASE_URL": url, "NCHAT_DATA_DIR": str(tmp_path)}
    )


async def _mirror(url: str) -> list[str]:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        return [r["version"] for r in rows]
    finally:
        await conn.close()


def mirror(url: str) -> list[str]:
    return asyncio.run(_mirror(url))


def versions() -> list[str]:
    return [r.version for r in migrate.history()]


def test_status_lists_pending_and_exits_1(fresh_url: str, tmp_path: Path) -> None:
    result = nchat(fresh_url, tmp_path, "db", "migrate", "status")
    assert result.exit_code == 1, result.output
    assert "Current revision: (none)" in result.stdout
    assert f"{len(versions())} pending migration(s)" in result.stdout
    for rev in migrate.history():
        assert f"{rev.version}  {rev.name}" in result.stdout
    assert "No pending migrations" not in result.stdout


def test_up_then_status_is_current(fresh_url: str, tmp_path: Path) -> None:
    result = nchat(fresh_url, tmp_path, "db", "migrate", "up")
    assert result.exit_code == 0, result.output
    assert f"Migrated (empty) -> {migrate.head()}" in result.stdout
    assert mirror(fresh_url) == versions()

    result = nchat(fresh_url, tmp_path, "db", "migrate", "status")
    assert result.exit_code == 0, result.output
    assert "No pending migrations" in result.stdout
    assert f"Current revision: {migrate.head()}" in result.stdout

    result = nchat(fresh_url, tmp_path, "db", "migrate", "up")  # again: nothing to do
    assert result.exit_code == 0, result.output
    assert f"Migrated {migrate.head()} -> {migrate.head()}" in result.stdout


def test_history_marks_applied_revisions(fresh_url: str, tmp_path: Path) -> None:
    assert applied_column(nchat(fresh_url, tmp_path, "db", "migrate", "history")) == dict.fromkeys(
        versions(), "no"
    )
    nchat(fresh_url, tmp_path, "db", "migrate", "up", "--to", versions()[0])
    expected = dict.fromkeys(versions(), "no") | {versions()[0]: "yes"}
    assert applied_column(nchat(fresh_url, tmp_path, "db", "migrate", "history")) == expected
    nchat(fresh_url, tmp_path, "db", "migrate", "up")
    assert applied_column(nchat(fresh_url, tmp_path, "db", "migrate", "history")) == dict.fromkeys(
        versions(), "yes"
    )


def applied_column(result: Result) -> dict[str, str]:
    """version -> the table's "applied" cell (the last cell of the version's first line)."""
    assert result.exit_code == 0, result.output
    cells = {}
    for version in versions():
        row = next(line for line in result.stdout.splitlines() if version in line)
        cells[version] = row.strip("│ ").rsplit("│", 1)[-1].strip()
    return cells


def test_up_and_down_step_through_every_revision(fresh_url: str, tmp_path: Path) -> None:
    all_versions = versions()
    for index, version in enumerate(all_versions):
        result = nchat(fresh_url, tmp_path, "db", "migrate", "up", "--to", version)
        assert result.exit_code == 0, result.output
        assert migrate.current(fresh_url) == version
        assert mirror(fresh_url) == all_versions[: index + 1]
        status = nchat(fresh_url, tmp_path, "db", "migrate", "status")
        assert status.exit_code == (0 if version == all_versions[-1] else 1), status.output

    for index in range(len(all_versions) - 1, -1, -1):
        result = nchat(fresh_url, tmp_path, "db", "migrate", "down", "--steps", "1")
        assert result.exit_code == 0, result.output
        below = all_versions[index - 1] if index else None
        assert migrate.current(fresh_url) == below
        assert mirror(fresh_url) == all_versions[:index]
        status = nchat(fresh_url, tmp_path, "db", "migrate", "status")
        assert status.exit_code == 1
        for pending in all_versions[index:]:
            assert pending in status.stdout


def test_down_to_base(fresh_url: str, tmp_path: Path) -> None:
    nchat(fresh_url, tmp_path, "db", "migrate", "up")
    result = nchat(fresh_url, tmp_path, "db", "migrate", "down", "--to", "base")
    assert result.exit_code == 0, result.output
    assert f"Migrated {migrate.head()} -> (empty)" in result.stdout
    assert migrate.current(fresh_url) is None
    assert mirror(fresh_url) == []


@pytest.mark.parametrize("args", [[], ["--to", "base", "--steps", "1"]], ids=["neither", "both"])
def test_down_needs_exactly_one_of_to_and_steps(
    fresh_url: str, tmp_path: Path, args: list[str]
) -> None:
    nchat(fresh_url, tmp_path, "db", "migrate", "up")
    result = nchat(fresh_url, tmp_path, "db", "migrate", "down", *args)
    assert result.exit_code == 2, result.output
    assert "exactly one of --to REV or --steps N" in result.stderr
    assert migrate.current(fresh_url) == migrate.head()


def test_down_steps_must_be_positive(fresh_url: str, tmp_path: Path) -> None:
    result = nchat(fresh_url, tmp_path, "db", "migrate", "down", "--steps", "0")
    assert result.exit_code == 2


def test_bad_targets_are_one_line_errors(fresh_url: str, tmp_path: Path) -> None:
    result = nchat(fresh_url, tmp_path, "db", "migrate", "up", "--to", "nope")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # handled, not a crash
    assert "Error: Can't locate revision identified by 'nope'" in result.stderr
    assert "Traceback" not in result.output

    nchat(fresh_url, tmp_path, "db", "migrate", "up")
    too_many = str(len(versions()) + 1)
    result = nchat(fresh_url, tmp_path, "db", "migrate", "down", "--steps", too_many)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("Error: ")
    assert migrate.current(fresh_url) == migrate.head()


def test_missing_database_is_an_error_not_a_traceback(server_url: str, tmp_path: Path) -> None:
    with throwaway_database(server_url) as url:
        pass  # dropped again: the name is free and certainly absent
    result = nchat(url, tmp_path, "db", "migrate", "status")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "does not exist" in result.stderr


def test_real_executable(fresh_url: str, tmp_path: Path) -> None:
    env = nchat_env(tmp_path, fresh_url)
    status = run_nchat(["db", "migrate", "status"], env)
    assert status.returncode == 1, status.stdout + status.stderr
    assert all(v in status.stdout for v in versions())

    up = run_nchat(["db", "migrate", "up"], env)
    assert up.returncode == 0, up.stdout + up.stderr

    status = run_nchat(["db", "migrate", "status"], env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "No pending migrations" in status.stdout

    history = run_nchat(["db", "migrate", "history"], env)
    assert history.returncode == 0, history.stdout + history.stderr
    assert all(v in history.stdout for v in versions())

    down = run_nchat(["db", "migrate", "down"], env)
    assert down.returncode == 2
    assert "exactly one of --to REV or --steps N" in down.stderr


def test_real_executable_against_the_embedded_server() -> None:
    """No NCHAT_DATABASE_URL: each command starts the private PostgreSQL and stops it."""
    with embedded_data_dir() as data_dir:
        pgdata = data_dir / "pg"
        env = nchat_env(data_dir)
        up = run_nchat(["db", "migrate", "up"], env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert (pgdata / "PG_VERSION").exists()
        assert postgres_gone(pgdata), postgres_processes(pgdata)

        status = run_nchat(["db", "migrate", "status"], env)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "No pending migrations" in status.stdout
        assert postgres_gone(pgdata), postgres_processes(pgdata)
        assert not (data_dir / "pg.owner").exists()
