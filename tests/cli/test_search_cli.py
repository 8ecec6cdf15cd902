"""`nchat search reindex`: the language words are stemmed for, switched and rebuilt."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from nchat.cli.main import app
from nchat.db import migrate
from tests.db import fetch, sql
from tests.fixtures.processes import throwaway_database
from tests.search.test_search_migration import ROWS

runner = CliRunner()
FINDS = (
    "SELECT count(*) FROM nchat_messages WHERE search @@ plainto_tsquery('nchat_search', '{word}')"
)


@pytest.fixture
def db_url(server_url: str) -> Iterator[str]:
    with throwaway_database(server_url) as url:
        migrate.upgrade(url)
        sql(url, ROWS)
        yield url


def reindex(url: str, data_dir: Path, *args: str) -> Result:
    return runner.invoke(
        app,
        ["search", "reindex", *args],
        env={"NCHAT_DATABASE_URL": url, "NCHAT_DATA_DIR": str(data_dir)},
    )


def test_switching_the_language_rebuilds_every_message(db_url: str, tmp_path: Path) -> None:
    stemmed = 25000 // 7
    assert fetch(db_url, FINDS.format(word="deployment")) == [(stemmed,)]
    assert fetch(db_url, FINDS.format(word="deploy")) == [(stemmed,)]  # english: one stem
    result = reindex(db_url, tmp_path, "--language", "simple")
    assert result.exit_code == 0, result.output
    assert "25000 messages rebuilt" in result.output
    assert fetch(db_url, FINDS.format(word="deploy")) == [(0,)]  # no stemming now
    assert fetch(db_url, FINDS.format(word="deployments")) == [(stemmed,)]
    back = reindex(db_url, tmp_path)  # NCHAT_SEARCH_LANGUAGE's default: english
    assert back.exit_code == 0, back.output
    assert fetch(db_url, FINDS.format(word="deploy")) == [(stemmed,)]


def test_an_unknown_language_changes_nothing(db_url: str, tmp_path: Path) -> None:
    result = reindex(db_url, tmp_path, "--language", "klingon")
    assert result.exit_code == 1
    assert "no stemmer for 'klingon'" in result.output
    assert fetch(db_url, FINDS.format(word="deploy")) == [(25000 // 7,)]
