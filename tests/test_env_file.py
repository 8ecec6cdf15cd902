"""Settings from a `.env` file in the working directory, under the environment's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nchat.config import Settings

DOTENV = """\
# nchat settings
NCHAT_DATABASE_URL=postgresql://chat:secret@db.internal:5432/chat
NCHAT_PORT=9001
NCHAT_LOG_FORMAT=json
NCHAT_LOG_FILE=
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and an environment without NCHAT_* settings."""
    for name in list(os.environ):
        if name.startswith("NCHAT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_settings_are_read_from_a_dotenv_file_in_the_working_directory(workdir: Path) -> None:
    (workdir / ".env").write_text(DOTENV)
    settings = Settings()
    assert settings.database_url == "postgresql://chat:secret@db.internal:5432/chat"
    assert settings.port == 9001
    assert settings.log_format == "json"
    assert settings.log_file is None  # empty: stdout
    assert settings.host == "127.0.0.1"  # what the file leaves out keeps its default


def test_the_environment_wins_over_the_dotenv_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / ".env").write_text(DOTENV)
    monkeypatch.setenv("NCHAT_PORT", "9002")
    monkeypatch.setenv("NCHAT_LOG_FILE", "/var/log/nchat/nchat.log")
    settings = Settings()
    assert settings.port == 9002
    assert settings.log_file == Path("/var/log/nchat/nchat.log")
    assert settings.log_format == "json"


def test_only_prefixed_names_count_in_the_dotenv_file(workdir: Path) -> None:
    # Other programs' settings may share the file; DATABASE_URL is not nchat's name.
    (workdir / ".env").write_text("DATABASE_URL=postgresql://other@db/other\nPORT=1\n")
    settings = Settings()
    assert settings.database_url is None
    assert settings.port == 8000


def test_the_suite_runs_where_no_dotenv_file_would_change_it(pytestconfig: pytest.Config) -> None:
    # Settings() here and in the child servers the suite starts (which inherit this working
    # directory) would read one, whatever the tests set in the environment.
    stray = pytestconfig.invocation_params.dir / ".env"
    assert not stray.exists(), f"{stray} would change the settings of the tests: move it away"
