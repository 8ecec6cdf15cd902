"""A database migrated by a newer nchat (a rollback in a rolling upgrade): the doctor and
`nchat serve` tell whether this version can run on it, from what each newer migration
declared (decision 0057)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nchat.db import migrate
from tests.db import cli, fetch, fresh_database, sql
from tests.fixtures.processes import Server, nchat_env, run_nchat

FUTURE = "29991231_9999"
RELEASED = "20261206_0015"  # v0.1.0's head: every migration after it declares itself


def from_the_future(url: str, expand_only: bool | None) -> None:
    declared = "NULL" if expand_only is None else str(expand_only).lower()
    sql(
        url,
        f"""
        UPDATE alembic_version SET version_num = '{FUTURE}';
        INSERT INTO schema_migrations (version, name, expand_only)
        VALUES ('{FUTURE}', 'a newer nchat', {declared});
        """,
    )


@pytest.fixture
def migrated(server_url: str) -> Iterator[str]:
    with fresh_database(server_url) as url:
        yield url


def test_every_migration_since_the_release_says_whether_it_only_adds(migrated: str) -> None:
    versions = [r.version for r in migrate.history()]
    since = versions[versions.index(RELEASED) + 1 :]
    assert since, "no migration since the release"
    scripts = {s.revision: s for s in migrate.script_directory().walk_revisions()}
    for version in since:
        declared = getattr(scripts[version].module, "expand_only", None)
        assert isinstance(declared, bool), f"{version} does not declare expand_only"
    # And the mirror keeps what each declared, for an older nchat to read.
    rows = dict(fetch(migrated, "SELECT version, expand_only FROM schema_migrations"))
    assert all(rows[v] is True for v in since)
    assert rows[RELEASED] is None


def doctor(url: str) -> tuple[int, dict[str, object]]:
    result = cli(url, "doctor", "--json")
    report: dict[str, object] = json.loads(result.stdout)
    return result.exit_code, report


def migrations_check(report: dict[str, object]) -> dict[str, str]:
    checks = report["checks"]
    assert isinstance(checks, list)
    [check] = [c for c in checks if c["name"] == "migrations"]
    return check  # type: ignore[no-any-return]


def test_a_newer_schema_that_only_adds_is_served_and_the_doctor_says_so(
    migrated: str, tmp_path: Path
) -> None:
    from_the_future(migrated, expand_only=True)
    code, report = doctor(migrated)
    check = migrations_check(report)
    assert code == 0 and report["ok"] is True, report
    assert check["status"] == "warn"
    assert "newer than this nchat" in check["detail"] and FUTURE in check["detail"]

    server = Server(nchat_env(tmp_path / "data", migrated), tmp_path / "serve.log")
    try:
        server.wait_healthy()
        assert "migrated by a newer nchat" in server.output()
        assert httpx.get(f"{server.url}/api/config", timeout=10).status_code == 200
    finally:
        server.kill()
    # Served as it was: not migrated, not "reconciled" back.
    assert fetch(migrated, "SELECT version_num FROM alembic_version") == [(FUTURE,)]


@pytest.mark.parametrize("expand_only", [False, None])
def test_a_newer_schema_that_changed_things_is_refused(
    migrated: str, tmp_path: Path, expand_only: bool | None
) -> None:
    from_the_future(migrated, expand_only=expand_only)
    code, report = doctor(migrated)
    assert code != 0 and report["ok"] is False
    assert migrations_check(report)["status"] == "fail"

    result = run_nchat(["serve", "--port", "1"], nchat_env(tmp_path / "data", migrated))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot run on" in result.stdout
