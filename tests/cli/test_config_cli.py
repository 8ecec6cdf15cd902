"""`nchat config get|set|export|import` against real databases: a value set from the shell is
checked like the PATCH, and an export from one server imports into another as one version."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from typer.testing import CliRunner, Result

from nchat.cli.main import app
from nchat.db import migrate
from nchat.db.engine import libpq_url
from tests.fixtures.processes import throwaway_database

runner = CliRunner()


@pytest.fixture
def staging(server_url: str) -> Iterator[str]:
    with throwaway_database(server_url) as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture
def production(server_url: str) -> Iterator[str]:
    with throwaway_database(server_url) as url:
        migrate.upgrade(url)
        yield url


def nchat(url: str, tmp_path: Path, *args: str) -> Result:
    return runner.invoke(
        app, list(args), env={"NCHAT_DATABASE_URL": url, "NCHAT_DATA_DIR": str(tmp_path)}
    )


def rows(url: str, query: str) -> list[tuple[Any, ...]]:
    async def read() -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(libpq_url(url))
        try:
            return [tuple(r) for r in await conn.fetch(query)]
        finally:
            await conn.close()

    return asyncio.run(read())


def test_set_and_get_check_values_like_the_api(staging: str, tmp_path: Path) -> None:
    done = nchat(staging, tmp_path, "config", "set", "features.search", "false")
    assert done.exit_code == 0, done.output
    done = nchat(staging, tmp_path, "config", "set", "branding.app_name", "Acme Chat")
    assert done.exit_code == 0, done.output  # not JSON: taken as text
    got = nchat(staging, tmp_path, "config", "get", "features")
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout)["search"] is False
    assert json.loads(nchat(staging, tmp_path, "config", "get").stdout)["branding"] == {
        "app_name": "Acme Chat",
        "logo_file_id": None,
    }

    for key, value, path in (
        ("features.signup_open", "lots", "features.signup_open"),
        ("files.max_upload_bytes", "-3", "files.max_upload_bytes"),
        ("theme.accent", "#12345", "theme.accent"),
        ("mobile.offlineCache.maxMessages", '"1000"', "mobile.offlineCache.maxMessages"),
        ("features.beta", "true", "features.beta"),
    ):
        refused = nchat(staging, tmp_path, "config", "set", key, value)
        assert refused.exit_code == 2, refused.output
        assert path in refused.stderr
    for key in ("setup.completed", "search", "nothing.here"):
        assert nchat(staging, tmp_path, "config", "set", key, "true").exit_code == 2
    assert nchat(staging, tmp_path, "config", "get", "nothing").exit_code == 2
    versions = rows(staging, "SELECT version, action, actor_id FROM nchat_config_versions")
    assert versions == [(1, "update", None), (2, "update", None)]
    audited = rows(staging, "SELECT action FROM nchat_audit_log ORDER BY id")
    assert audited == [("config.updated",), ("config.updated",)]


def test_export_from_staging_imports_into_production_as_one_version(
    staging: str, production: str, tmp_path: Path
) -> None:
    for key, value in (
        ("branding.app_name", "Acme Chat"),
        ("theme.mode", "dark"),
        ("features.signup_open", "true"),
        ("mobile.offlineCache", '{"maxMessages": 250}'),
    ):
        assert nchat(staging, tmp_path, "config", "set", key, value).exit_code == 0
    exported = tmp_path / "settings.json"
    done = nchat(staging, tmp_path, "config", "export", str(exported))
    assert done.exit_code == 0, done.output
    settings = json.loads(exported.read_text())
    assert "setup" not in settings and "owner" not in settings  # they belong to each server

    done = nchat(production, tmp_path, "config", "import", str(exported))
    assert done.exit_code == 0, done.output
    moved = json.loads(nchat(production, tmp_path, "config", "export").stdout)
    assert moved == settings
    assert moved["mobile"]["offlineCache"]["maxMessages"] == 250
    [(version, action, changed)] = rows(
        production, "SELECT version, action, changes FROM nchat_config_versions"
    )
    assert (version, action) == (1, "import")
    assert set(json.loads(changed)) == {
        "branding.app_name",
        "theme.mode",
        "features.signup_open",
        "mobile.offlineCache.maxMessages",
    }


def test_an_invalid_import_changes_nothing(production: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    for content, path in (
        ({"features": {"search": "lots"}, "branding": {"app_name": "X"}}, "features.search"),
        ({"theme": {"accent": "red"}}, "theme.accent"),
        ({"owner": {"user_id": "someone"}}, "owner"),
    ):
        bad.write_text(json.dumps(content))
        refused = nchat(production, tmp_path, "config", "import", str(bad))
        assert refused.exit_code == 2, refused.output
        assert path in refused.stderr
    bad.write_text("not json")
    assert nchat(production, tmp_path, "config", "import", str(bad)).exit_code == 2
    assert nchat(production, tmp_path, "config", "import", str(tmp_path / "none")).exit_code == 1
    assert rows(production, "SELECT count(*) FROM nchat_config_versions") == [(0,)]
    got = json.loads(nchat(production, tmp_path, "config", "get", "branding").stdout)
    assert got["app_name"] == "nchat"
