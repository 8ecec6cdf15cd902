"""`nchat db doctor` on healthy, behind, drifted and unreachable databases."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from nchat.db import migrate
from nchat.tables import metadata
from tests.db import UNREACHABLE_URL, cli, fetch, fresh_database, run_nchat, sql
from tests.fixtures.rows import Mentions


@pytest.fixture(scope="module")
def healthy(server_url: str) -> Iterator[str]:
    with fresh_database(server_url) as url:
        yield url


def doctor_json(url: str) -> tuple[int, dict[str, Any]]:
    result = cli(url, "doctor", "--json")
    return result.exit_code, json.loads(result.stdout)


def test_healthy_database_passes_and_reports_its_state(healthy: str, server_url: str) -> None:
    sql(healthy, "INSERT INTO nchat_login_failures (account, ip) VALUES ('eve', '10.0.0.1')")
    [(libraries,)] = fetch(server_url, "SELECT current_setting('shared_preload_libraries')")
    code, report = doctor_json(healthy)

    assert code == 0
    assert report["ok"] is True and report["problems"] == []
    # Without pg_stat_statements (the external server does not load it), a warning only.
    statements = "ok" if "pg_stat_statements" in libraries else "warn"
    assert {c["name"]: (c["status"], c["ok"]) for c in report["checks"]} == {
        "connection": ("ok", True),
        "migrations": ("ok", True),
        "schema": ("ok", True),
        "connections": ("ok", True),
        "size": ("ok", True),
        "pg_stat_statements": (statements, True),
        "storage": ("ok", True),
    }
    [(version, version_num, size, database)] = fetch(
        healthy,
        "SELECT current_setting('server_version'), current_setting('server_version_num')::int,"
        " pg_database_size(current_database()), current_database()",
    )
    assert report["server_version"] == version
    assert report["server_version_num"] == version_num
    assert report["database"] == database
    assert report["size_bytes"] > 0 and abs(report["size_bytes"] - size) < 1_000_000
    assert 1 <= report["connections"] <= report["server_connections"]
    assert report["server_connections"] <= report["max_connections"]
    assert report["revision"] == report["head"] == migrate.head()
    assert report["pending_migrations"] == []
    expected = {table: 0 for table in metadata.tables}
    expected.update(
        {"nchat_app_config": 1, "nchat_notifier_position": 1, "nchat_login_failures": 1}
    )
    assert report["row_counts"] == expected


def test_real_executable_prints_checks_and_exits_zero(healthy: str) -> None:
    proc = run_nchat(healthy, "doctor")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for check in ("connection", "migrations", "schema", "connections", "size"):
        assert any(re.match(rf"\s+\[ok\]\s+{check}\s", line) for line in lines), check
    assert re.search(r"^\s+nchat_app_config\s+1$", proc.stdout, re.MULTILINE)
    assert "No problems found." in proc.stdout
    assert "[FAIL]" not in proc.stdout


@pytest.mark.parametrize("state", ["downgraded", "never migrated"])
def test_pending_migrations_are_a_problem_with_the_command_to_run(
    server_url: str, state: str
) -> None:
    with fresh_database(server_url, migrated=state == "downgraded") as url:
        if state == "downgraded":
            migrate.downgrade(url, to="base")
        code, report = doctor_json(url)
        text = cli(url, "doctor")

    pending = [r.version for r in migrate.history()]
    assert code == 1 and text.exit_code == 1
    assert report["ok"] is False
    assert report["revision"] is None and report["pending_migrations"] == pending
    [problem] = report["problems"]
    assert problem["check"] == "migrations"
    assert problem["message"].startswith(f"{len(pending)} pending migration")
    assert "nchat db migrate up" in problem["hint"]
    schema = next(c for c in report["checks"] if c["name"] == "schema")
    assert schema["status"] == "skipped" and "not checked" in schema["detail"]
    assert re.search(r"\[skip\]\s+schema", text.stdout)
    assert re.search(r"\[FAIL\]\s+migrations", text.stdout)
    assert "fix: run `nchat db migrate up`" in text.stdout


def _psql_fix(hint: str) -> str:
    """The statement a hint says to run in psql."""
    match = re.search(r"in psql: (.+?;)", hint)
    assert match, hint
    return match.group(1)


def test_schema_drift_lists_each_difference_with_a_fix_that_works(server_url: str) -> None:
    with fresh_database(server_url) as url:
        sql(
            url,
            """
            ALTER TABLE nchat_users DROP COLUMN locale;
            DROP INDEX ix_nchat_sessions_user_id;
            ALTER TABLE nchat_sessions DROP CONSTRAINT fk_nchat_sessions_user_id_nchat_users;
            ALTER TABLE nchat_users DROP CONSTRAINT ck_nchat_users_role_valid;
            ALTER TABLE nchat_audit_log ALTER COLUMN action DROP NOT NULL;
            """,
        )
        code, report = doctor_json(url)
        text = cli(url, "doctor")

        assert code == 1 and text.exit_code == 1
        problems = {p["message"]: p["hint"] for p in report["problems"]}
        assert set(problems) == {
            "column locale missing on nchat_users",
            "index ix_nchat_sessions_user_id missing on nchat_sessions",
            "foreign key fk_nchat_sessions_user_id_nchat_users missing on nchat_sessions",
            "check constraint ck_nchat_users_role_valid missing on nchat_users",
            "column nchat_audit_log.action should be NOT NULL",
        }
        assert all(p["check"] == "schema" for p in report["problems"])
        assert "ADD COLUMN locale TEXT" in problems["column locale missing on nchat_users"]
        assert (
            "CREATE INDEX ix_nchat_sessions_user_id ON nchat_sessions (user_id)"
            in problems["index ix_nchat_sessions_user_id missing on nchat_sessions"]
        )
        for message, hint in problems.items():
            assert f". {message}\n     fix: {hint}\n" in text.stdout
        assert "5 problems:" in text.stdout

        # The hints are the repair: applying them makes the database healthy again.
        for hint in problems.values():
            sql(url, _psql_fix(hint))
        code, report = doctor_json(url)
        assert (code, report["problems"]) == (0, [])


def test_missing_trigger_is_reported_with_a_fix_that_also_redoes_its_work(
    server_url: str,
) -> None:
    rows = Mentions.make(1)
    bobs_mark = f"SELECT last_mention_id FROM nchat_channel_members WHERE user_id = '{rows.bob}'"
    with fresh_database(server_url) as url:
        sql(url, "DROP TRIGGER nchat_mentions_mark_member ON nchat_mentions")
        sql(url, rows.sql())
        assert fetch(url, bobs_mark) == [(None,)]  # what the trigger would have kept
        code, report = doctor_json(url)

        assert code == 1
        [problem] = report["problems"]
        assert problem["check"] == "schema"
        assert problem["message"] == "trigger nchat_mentions_mark_member missing on nchat_mentions"
        sql(url, problem["hint"].split("in psql: ", 1)[1])
        assert fetch(url, bobs_mark) == [rows.messages]
        code, report = doctor_json(url)
        assert (code, report["problems"]) == (0, [])


@pytest.mark.parametrize(
    ("trigger", "rows_without_it"),
    [("nchat_messages_root_inserted", 1), ("nchat_messages_root_deleted", 1)],
)
def test_a_missing_root_change_trigger_is_fixed_by_forgetting_every_channel(
    server_url: str, trigger: str, rows_without_it: int
) -> None:
    """Without the trigger, processes' copies of recent messages miss those writes
    (decision 0023); the fix recreates it and marks every channel changed."""
    rows = Mentions.make(2)
    changes = "SELECT channel_id FROM nchat_root_changes ORDER BY id"
    with fresh_database(server_url) as url:
        sql(url, f"DROP TRIGGER {trigger} ON nchat_messages")
        sql(url, rows.sql())  # two messages
        sql(url, f"DELETE FROM nchat_messages WHERE id = '{rows.messages[0]}'")
        assert len(fetch(url, changes)) == rows_without_it
        code, report = doctor_json(url)

        assert code == 1
        [problem] = report["problems"]
        assert problem["message"] == f"trigger {trigger} missing on nchat_messages"
        sql(url, problem["hint"].split("in psql: ", 1)[1])
        assert fetch(url, changes)[rows_without_it:] == [(rows.channel,)]
        sql(url, f"DELETE FROM nchat_messages WHERE id = '{rows.messages[1]}'")
        assert len(fetch(url, changes)) == rows_without_it + 2
        code, report = doctor_json(url)
        assert (code, report["problems"]) == (0, [])


def test_missing_table_is_reported_once_not_per_column(server_url: str) -> None:
    with fresh_database(server_url) as url:
        sql(url, "DROP TABLE nchat_login_failures")
        code, report = doctor_json(url)

    assert code == 1
    [problem] = report["problems"]
    assert problem["message"] == "table nchat_login_failures missing"
    assert "nchat db restore" in problem["hint"]
    assert "CREATE TABLE nchat_login_failures" in problem["hint"]
    assert "nchat_login_failures" not in report["row_counts"]


def test_revision_unknown_to_this_version_is_a_problem(server_url: str) -> None:
    with fresh_database(server_url) as url:
        sql(url, "UPDATE alembic_version SET version_num = '29991231_9999'")
        code, report = doctor_json(url)

    assert code == 1
    [problem] = report["problems"]
    assert problem["check"] == "migrations"
    assert "29991231_9999" in problem["message"] and "does not know" in problem["message"]


def test_unreachable_database_is_a_clean_failure() -> None:
    text = cli(UNREACHABLE_URL, "doctor")
    code, report = doctor_json(UNREACHABLE_URL)

    assert text.exit_code == 1 and code == 1
    assert isinstance(text.exception, SystemExit)  # an exit code, not a crash
    assert "Traceback" not in text.output
    assert "[FAIL] connection" in text.stdout
    assert "cannot connect to postgresql://nchat:***@127.0.0.1:1/nchat" in text.stdout
    assert "NCHAT_DATABASE_URL" in text.stdout
    assert "s3cret-pw" not in text.output
    assert report["ok"] is False and report["server_version"] is None
    [problem] = report["problems"]
    assert problem["check"] == "connection" and "NCHAT_DATABASE_URL" in problem["hint"]
