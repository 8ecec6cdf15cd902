"""`nchat retention run [--dry-run]` and `nchat retention show` through the real CLI, on a
database of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from nchat.cli.main import app
from nchat.db import migrate
from tests.db import fetch, sql
from tests.fixtures.processes import throwaway_database

runner = CliRunner()
ROWS = """
INSERT INTO nchat_users (id, username, email, display_name, password_hash, role)
VALUES ('0193a0c4-0000-7000-8000-000000000001', 'ada', 'ada@example.com', 'Ada', 'x', 'owner');
INSERT INTO nchat_channels (id, type, name, created_by)
VALUES ('0193a0c4-0000-7000-8000-0000000000c1', 'public', 'general',
        '0193a0c4-0000-7000-8000-000000000001'),
       ('0193a0c4-0000-7000-8000-0000000000c2', 'public', 'archive',
        '0193a0c4-0000-7000-8000-000000000001');
INSERT INTO nchat_messages (id, channel_id, user_id, text, created_at)
SELECT gen_random_uuid(), c, '0193a0c4-0000-7000-8000-000000000001', 'message ' || n,
       now() - make_interval(days => n) + interval '1 hour'
FROM generate_series(1, 700) AS n,
     unnest(ARRAY['0193a0c4-0000-7000-8000-0000000000c1',
                  '0193a0c4-0000-7000-8000-0000000000c2']::uuid[]) AS c;
INSERT INTO nchat_retention_policy (message_days) VALUES (100);
INSERT INTO nchat_channel_retention (channel_id, message_days, include_pinned)
VALUES ('0193a0c4-0000-7000-8000-0000000000c2', NULL, true);
"""
COUNT = "SELECT count(*) FROM nchat_messages"


@pytest.fixture
def db_url(server_url: str) -> Iterator[str]:
    with throwaway_database(server_url) as url:
        migrate.upgrade(url)
        sql(url, ROWS)
        yield url


def retention(url: str, data_dir: Path, *args: str) -> Result:
    return runner.invoke(
        app,
        ["retention", *args],
        env={"NCHAT_DATABASE_URL": url, "NCHAT_DATA_DIR": str(data_dir)},
    )


def test_a_dry_run_counts_and_the_run_deletes_the_same(db_url: str, tmp_path: Path) -> None:
    # general keeps 100 days (the workspace's policy): 600 of its 700 messages are older.
    dry = retention(db_url, tmp_path, "run", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Retention would delete 600 messages and 0 files." in dry.output
    assert "general: 600 messages, 0 files (100 days)" in dry.output
    assert "archive" not in dry.output  # kept forever by its own policy
    assert fetch(db_url, COUNT) == [(1400,)]

    done = retention(db_url, tmp_path, "run")
    assert done.exit_code == 0, done.output
    assert "Retention deleted 600 messages and 0 files." in done.output
    assert fetch(db_url, COUNT) == [(800,)]
    oldest = fetch(
        db_url,
        "SELECT max(now() - created_at) < interval '101 days' FROM nchat_messages "
        "WHERE channel_id = '0193a0c4-0000-7000-8000-0000000000c1'",
    )
    assert oldest == [(True,)]
    assert fetch(
        db_url, "SELECT details->>'messages' FROM nchat_audit_log WHERE action = 'retention.run'"
    ) == [("600",)]

    again = retention(db_url, tmp_path, "run", "--dry-run")
    assert "Retention would delete 0 messages and 0 files." in again.output


def test_show_lists_the_workspace_policy_and_the_channels_own(db_url: str, tmp_path: Path) -> None:
    shown = retention(db_url, tmp_path, "show")
    assert shown.exit_code == 0, shown.output
    assert "Workspace: messages 100 days." in shown.output
    assert "archive (public): messages kept forever, pinned too" in shown.output
    sql(db_url, "DELETE FROM nchat_retention_policy; DELETE FROM nchat_channel_retention;")
    shown = retention(db_url, tmp_path, "show")
    assert "Workspace: messages kept forever." in shown.output
    assert "No channel has a policy of its own." in shown.output


def test_an_unreachable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = retention("postgresql://nchat:pw@127.0.0.1:1/nchat", tmp_path, "run", "--dry-run")
    assert result.exit_code == 1
    assert "Error: cannot reach the database" in result.output
