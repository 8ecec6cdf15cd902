"""`nchat db schema-report`: counts against the models, JSON round trip, --compare."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from nchat.db import migrate
from nchat.db.schema_report import COMPONENTS, SchemaReport, compare
from nchat.tables import metadata
from tests.db import cli, fresh_database, run_nchat, sql

# schema_migrations (version, name, applied_at, expand_only) and alembic_version
# (version_num): each with a primary key.
BOOKKEEPING_TABLES, BOOKKEEPING_COLUMNS = 2, 5

CONSTRAINT_TYPES = (
    sa.PrimaryKeyConstraint,
    sa.ForeignKeyConstraint,
    sa.UniqueConstraint,
    sa.CheckConstraint,
)


# The job queue's schema (procrastinate's, applied by a migration as its release ships it).
JOBS_SCHEMA = Path(migrate.__file__).parents[1] / "migrations/versions/procrastinate_3_10.sql"


JOB_TABLES = {
    "procrastinate_events",
    "procrastinate_jobs",
    "procrastinate_periodic_defers",
    "procrastinate_workers",
}


@pytest.fixture(scope="module")
def jobs(server_url: str) -> dict[str, int]:
    """What the job queue's schema alone counts, on a database holding nothing else."""
    with fresh_database(server_url, migrated=False) as url:
        sql(url, JOBS_SCHEMA.read_text())
        counts = report_json(url)["counts"]
    assert isinstance(counts, dict)
    return counts


def expected_counts(jobs: dict[str, int]) -> dict[str, int]:
    """The models' objects, the migration bookkeeping and the job queue's schema."""
    return {name: count + jobs[name] for name, count in _model_counts().items()}


def _model_counts() -> dict[str, int]:
    tables = metadata.tables.values()
    # The triggers the models name, and the functions their DDL creates (some share one).
    ddl = [d for t in tables for d, _ in t.info.get("triggers", {}).values()]
    functions = {name for d in ddl for name in re.findall(r"FUNCTION (\w+)\(\) RETURNS", d)}
    return {
        "tables": len(tables) + BOOKKEEPING_TABLES,
        "columns": sum(len(t.columns) for t in tables) + BOOKKEEPING_COLUMNS,
        # Every table's primary key and unique constraints have an index of their own.
        "indexes": sum(
            len(t.indexes) + 1 + sum(isinstance(c, sa.UniqueConstraint) for c in t.constraints)
            for t in tables
        )
        + BOOKKEEPING_TABLES,
        "constraints": sum(
            sum(isinstance(c, CONSTRAINT_TYPES) for c in t.constraints) for t in tables
        )
        + BOOKKEEPING_TABLES,
        "functions": len(functions),
        "triggers": len(ddl),
        "views": 0,
    }


def report_json(url: str, *args: str) -> dict[str, Any]:
    result = cli(url, "schema-report", "--json", *args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def table_rows(markdown: str) -> dict[str, list[str]]:
    """Markdown table rows by first cell (header included; the rule row left out)."""
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|-"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_counts_of_a_migrated_database_match_the_models(
    server_url: str, jobs: dict[str, int]
) -> None:
    with fresh_database(server_url) as url:
        data = report_json(url)
        text = cli(url, "schema-report")

    assert data["counts"] == expected_counts(jobs)
    assert data["revision"] == migrate.head()
    objects = data["objects"]
    assert set(objects["tables"]) == {
        *metadata.tables,
        *JOB_TABLES,
        "schema_migrations",
        "alembic_version",
    }
    assert "nchat_users.locale" in objects["columns"]
    assert "ix_nchat_sessions_user_id" in objects["indexes"]
    assert "nchat_sessions.fk_nchat_sessions_user_id_nchat_users" in objects["constraints"]
    assert text.exit_code == 0
    rows = table_rows(text.stdout)
    assert rows["Component"] == ["count"]
    assert {c: int(rows[c][0]) for c in COMPONENTS} == expected_counts(jobs)


def test_functions_triggers_and_views_count_but_extension_members_do_not(
    server_url: str,
    jobs: dict[str, int],
) -> None:
    with fresh_database(server_url) as url:
        sql(
            url,
            """
            CREATE EXTENSION btree_gin;
            CREATE FUNCTION nchat_touch() RETURNS trigger LANGUAGE plpgsql AS
              $$ BEGIN NEW.updated_at = now(); RETURN NEW; END $$;
            CREATE TRIGGER nchat_users_touch BEFORE UPDATE ON nchat_users
              FOR EACH ROW EXECUTE FUNCTION nchat_touch();
            CREATE VIEW nchat_active_users AS
              SELECT id, username FROM nchat_users WHERE deleted_at IS NULL;
            """,
        )
        data = report_json(url)

    expected = expected_counts(jobs)
    assert data["counts"] == {
        **expected,
        "functions": expected["functions"] + 1,
        "triggers": expected["triggers"] + 1,
        "views": 1,
    }
    objects = data["objects"]
    assert "nchat_touch()" in objects["functions"]
    assert "nchat_users.nchat_users_touch" in objects["triggers"]
    assert not any("gin_btree" in f or "gin_extract_value" in f for f in objects["functions"])
    # The extensions nchat's own migrations create are not counted either.
    assert not any("similarity" in f or "unaccent" in f for f in objects["functions"])
    assert objects["views"] == ["nchat_active_users"]


def test_json_report_round_trips(server_url: str) -> None:
    with fresh_database(server_url) as url:
        data = report_json(url)

    report = SchemaReport.from_dict(json.loads(json.dumps(data)))
    assert report.to_dict() == data
    assert [c.changes for c in compare(report, report)] == ["no change"] * len(COMPONENTS)


def test_compare_base_to_head_shows_what_the_upgrade_added(
    server_url: str, tmp_path: Path, jobs: dict[str, int]
) -> None:
    before_file = tmp_path / "before.json"
    with fresh_database(server_url) as url:
        migrate.downgrade(url, to="base")
        before = run_nchat(url, "schema-report", "--json")
        assert before.returncode == 0, before.stderr
        before_file.write_text(before.stdout)
        migrate.upgrade(url)
        after = run_nchat(url, "schema-report", "--compare", str(before_file))
        as_json = report_json(url, "--compare", str(before_file))

    assert after.returncode == 0, after.stderr
    assert re.search(r"^\| Component +\| before +\| after +\| Changes +\|$", after.stdout, re.M)
    rows = table_rows(after.stdout)
    expected = expected_counts(jobs)
    assert rows["tables"] == [
        "2",
        str(expected["tables"]),
        f"+{len(metadata.tables) + jobs['tables']}",
    ]
    for component in ("columns", "indexes", "constraints", "functions", "triggers"):
        before_count, after_count, changes = rows[component]
        assert int(after_count) == expected[component]
        assert changes == f"+{expected[component] - int(before_count)}"
        assert int(before_count) < int(after_count)
    assert rows["views"] == ["0", "0", "no change"]
    # The text names the first tables (long lists are cut); the JSON comparison names all.
    first = ", ".join(sorted({*metadata.tables, *JOB_TABLES})[:3])
    assert f"Added tables: {first}, " in after.stdout
    # Long lists are cut in the text; the JSON comparison has every name.
    assert re.search(r"^Added columns: .+, \.\.\. \(\d+ more\)$", after.stdout, re.M)
    assert f"after revision {migrate.head()}" in after.stdout

    by_component = {c["component"]: c for c in as_json["changes"]}
    assert by_component["tables"]["added"] == sorted({*metadata.tables, *JOB_TABLES})
    assert by_component["tables"]["removed"] == []
    added_columns = by_component["columns"]["added"]
    assert len(added_columns) == expected["columns"] - int(rows["columns"][0])


def test_compare_reports_removals_too(server_url: str, tmp_path: Path) -> None:
    with fresh_database(server_url) as url:
        (tmp_path / "before.json").write_text(json.dumps(report_json(url)))
        sql(url, "DROP INDEX ix_nchat_sessions_user_id")
        result = cli(url, "schema-report", "--compare", str(tmp_path / "before.json"))

    assert result.exit_code == 0
    before_count, after_count, changes = table_rows(result.stdout)["indexes"]
    assert (int(before_count) - int(after_count), changes) == (1, "-1")
    assert "Removed indexes: ix_nchat_sessions_user_id" in result.stdout


def test_compare_with_a_file_that_is_not_a_report_is_a_usage_error(
    server_url: str, tmp_path: Path
) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text('{"hello": "world"}')
    result = cli(server_url, "schema-report", "--compare", str(bogus))

    assert result.exit_code == 2
    assert "not an nchat schema report" in result.output
