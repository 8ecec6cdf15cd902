"""`nchat db stats` and `nchat db maintain` through the real CLI, against a migrated
database with rows (and once against the embedded server, with no NCHAT_DATABASE_URL)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from nchat.cli.main import app
from nchat.db.engine import libpq_url
from nchat.db.ids import uuid7
from tests.db import cli, fetch, fresh_database, sql
from tests.fixtures.processes import embedded_data_dir, wait_until
from tests.fixtures.rows import Mentions

MESSAGES = 3000
# Past the thresholds for "read by sequential scans": at least 50 of them, 10,000 rows.
SCRATCH_ROWS = 20_000
SCRATCH_DELETED = 5_000
SCRATCH_SCANS = 60

ROWS = Mentions.make(MESSAGES)


def preloads_statements(server_url: str) -> bool:
    [(libraries,)] = fetch(server_url, "SELECT current_setting('shared_preload_libraries')")
    return "pg_stat_statements" in str(libraries)


def table_stats(url: str, table: str) -> dict[str, Any]:
    [row] = fetch(
        url,
        "SELECT n_live_tup, n_dead_tup, seq_scan, coalesce(idx_scan, 0), last_analyze, "
        f"last_vacuum, now() FROM pg_stat_user_tables WHERE relname = '{table}'",
    )
    keys = ("live", "dead", "seq_scan", "idx_scan", "last_analyze", "last_vacuum", "now")
    return dict(zip(keys, row, strict=True))


def done_since(url: str, table: str, column: str, moment: dt.datetime) -> bool:
    """Whether the statistics show `column` (last_analyze, last_vacuum) after `moment`."""
    at = table_stats(url, table)[column]
    return at is not None and at > moment


@pytest.fixture(scope="module")
def busy(server_url: str) -> Iterator[str]:
    """A migrated database: messages read by index and by sequential scans, and a table of
    its own that is read by many sequential scans and has many dead rows."""
    with fresh_database(server_url) as url:
        sql(url, ROWS.sql())
        sql(
            url,
            "CREATE TABLE scratch_scanned WITH (autovacuum_enabled = false) AS "
            f"SELECT n FROM generate_series(1, {SCRATCH_ROWS}) AS n",
        )
        sql(url, f"DELETE FROM scratch_scanned WHERE n <= {SCRATCH_DELETED}")
        reads = [
            f"SELECT text FROM nchat_messages WHERE id = '{ROWS.messages[0]}'",
            "SELECT count(*) AS stats_probe_marker FROM nchat_messages",
            *["SELECT count(*) FROM scratch_scanned"] * SCRATCH_SCANS,
        ]
        sql(url, ";".join(reads))
        # The statistics reach the shared views once the reading session has ended.
        assert wait_until(
            lambda: (
                table_stats(url, "scratch_scanned")["seq_scan"] > SCRATCH_SCANS
                and table_stats(url, "nchat_messages")["idx_scan"] > 0
            ),
            timeout=10,
        )
        yield url


def stats_json(url: str) -> dict[str, Any]:
    result = cli(url, "stats", "--json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in rows}


def test_stats_json_has_sizes_connections_usage_and_bloat(busy: str) -> None:
    [(database, size)] = fetch(
        busy, "SELECT current_database(), pg_database_size(current_database())"
    )
    # One more session, idle, so that connections are counted by state.
    with psycopg.connect(libpq_url(busy)):
        doc = stats_json(busy)

    assert set(doc) == {"database", "tables", "connections", "index_usage", "bloat", "statements"}
    assert doc["database"]["name"] == database
    assert abs(doc["database"]["size_bytes"] - size) < 1_000_000

    tables = doc["tables"]
    assert len(tables) == 10
    totals = [t["total_bytes"] for t in tables]
    assert totals == sorted(totals, reverse=True)
    messages = by_name(tables)["nchat_messages"]
    assert messages["schema"] == "public"
    assert messages["table_bytes"] > 0 and messages["index_bytes"] > 0
    assert messages["total_bytes"] == (
        messages["table_bytes"] + messages["index_bytes"] + messages["toast_bytes"]
    )
    [(heap, indexes)] = fetch(
        busy, "SELECT pg_relation_size('nchat_messages'), pg_indexes_size('nchat_messages')"
    )
    assert messages["index_bytes"] == indexes and messages["table_bytes"] >= heap
    assert by_name(tables)["scratch_scanned"]["total_bytes"] > 0

    connections = doc["connections"]
    assert connections["by_state"]["active"] >= 1  # the command's own session
    assert connections["by_state"]["idle"] >= 1
    assert connections["total"] == sum(connections["by_state"].values())
    assert connections["max_connections"] > connections["total"]

    usage = by_name(doc["index_usage"])
    assert usage["scratch_scanned"]["seq_scan"] > SCRATCH_SCANS
    assert usage["scratch_scanned"]["idx_scan"] == 0
    assert usage["scratch_scanned"]["seq_scan_heavy"] is True
    assert usage["nchat_messages"]["idx_scan"] >= 1
    assert usage["nchat_messages"]["seq_scan_heavy"] is False  # too few rows to matter
    assert 0 < usage["nchat_messages"]["idx_scan_ratio"] <= 1
    assert "procrastinate_jobs" in usage  # every user table, not only nchat's

    bloat = doc["bloat"]
    assert "n_dead_tup" in bloat["method"]
    scratch = by_name(bloat["tables"])["scratch_scanned"]
    assert scratch["dead_tuples"] == SCRATCH_DELETED
    assert scratch["live_tuples"] == SCRATCH_ROWS - SCRATCH_DELETED
    assert scratch["dead_ratio"] == SCRATCH_DELETED / SCRATCH_ROWS
    assert scratch["needs_vacuum"] is True
    assert by_name(bloat["tables"])["nchat_messages"]["needs_vacuum"] is False


def test_slow_statements_when_the_server_loads_the_extension_else_how_to_enable_it(
    busy: str, server_url: str
) -> None:
    statements = stats_json(busy)["statements"]
    text = cli(busy, "stats")

    assert text.exit_code == 0, text.output
    assert set(statements) == {"available", "status", "hint", "database", "queries"}
    if preloads_statements(server_url):  # the embedded server
        assert statements["available"] is True and statements["status"] == "available"
        assert statements["hint"] is None
        queries = statements["queries"]
        assert 0 < len(queries) <= 10
        times = [q["total_exec_time_ms"] for q in queries]
        assert times == sorted(times, reverse=True)
        assert all(len(q["query"]) <= 200 and q["calls"] >= 1 for q in queries)
        # The busiest statement of this database: the 60 scans of the scratch table.
        scans = [q for q in queries if "FROM scratch_scanned" in q["query"]]
        assert scans and scans[0]["calls"] >= SCRATCH_SCANS
        assert scans[0]["mean_exec_time_ms"] > 0
        assert "Slowest statements" in text.stdout
        assert "FROM scratch_scanned" in text.stdout
    else:  # the external server: installed, not preloaded
        assert statements["available"] is False and statements["status"] == "not_loaded"
        assert statements["queries"] == []
        hint = statements["hint"]
        assert "shared_preload_libraries" in hint and "restart" in hint
        assert "CREATE EXTENSION pg_stat_statements;" in hint
        assert "pg_stat_statements: not available (not loaded)" in text.stdout
        assert "To enable it: add pg_stat_statements to shared_preload_libraries" in text.stdout
    for heading in ("Largest tables", "Connections:", "Index usage", "Dead rows"):
        assert heading in text.stdout
    assert re.search(r"^\s+nchat_messages\s+\d+", text.stdout, re.MULTILINE)
    # Flagged: read by many sequential scans, and worth a vacuum.
    assert re.search(r"^\s+scratch_scanned\s+\d+\s+\d+ \*", text.stdout, re.MULTILINE)
    assert re.search(r"^\s+scratch_scanned\s+\d+\s+\d+\s+25% \*", text.stdout, re.MULTILINE)


def test_the_extension_in_nchats_own_database_is_read_there(
    server_url: str,
) -> None:
    """An operator may create it in nchat's database instead: read from there when the
    server loads the library, and named as not loaded when it does not."""
    with fresh_database(server_url, migrated=False) as url:
        sql(url, "CREATE EXTENSION pg_stat_statements; SELECT pg_sleep(0.05) AS own_database_probe")
        [(database,)] = fetch(url, "SELECT current_database()")
        statements = stats_json(url)["statements"]

    if preloads_statements(server_url):
        assert statements["status"] == "available"
        assert statements["database"] == database
        assert any("own_database_probe" in q["query"] for q in statements["queries"])
    else:  # the view exists, and refuses to be read: the library is not loaded
        assert statements["status"] == "not_loaded"
        assert statements["database"] is None and statements["queries"] == []
        assert "shared_preload_libraries" in statements["hint"]


def test_doctor_reports_whether_statements_are_available_without_failing(
    busy: str, server_url: str
) -> None:
    result = cli(busy, "doctor", "--json")
    text = cli(busy, "doctor")

    assert result.exit_code == 0 and text.exit_code == 0, text.output
    check = by_name(json.loads(result.stdout)["checks"])["pg_stat_statements"]
    assert check["ok"] is True
    if preloads_statements(server_url):
        assert check["status"] == "ok" and "available" in check["detail"]
        assert "[ok]   pg_stat_statements  available" in text.stdout
    else:
        assert check["status"] == "warn" and "shared_preload_libraries" in check["hint"]
        assert "[warn] pg_stat_statements  not available" in text.stdout
        assert "to enable: add pg_stat_statements to shared_preload_libraries" in text.stdout
    assert "No problems found." in text.stdout


def test_analyze_updates_the_named_tables_statistics_only(busy: str) -> None:
    before = table_stats(busy, "nchat_messages")["now"]

    result = cli(busy, "maintain", "--analyze", "nchat_messages")

    assert result.exit_code == 0, result.output
    assert "Analyzed nchat_messages" in result.stdout
    assert "Analyzed 1 table(s)" in result.stdout
    assert wait_until(
        lambda: done_since(busy, "nchat_messages", "last_analyze", before), timeout=10
    )
    assert table_stats(busy, "nchat_messages")["live"] == MESSAGES
    other = table_stats(busy, "nchat_users")["last_analyze"]
    assert other is None or other < before


def test_vacuum_without_a_table_does_every_nchat_table_and_nothing_else(busy: str) -> None:
    before = table_stats(busy, "nchat_users")["now"]
    [(count,)] = fetch(
        busy,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'nchat%'",
    )

    result = cli(busy, "maintain", "--vacuum")

    assert result.exit_code == 0, result.output
    assert f"Vacuumed {count} table(s)" in result.stdout
    for table in ("nchat_users", "nchat_messages", "nchat_events"):
        vacuumed = functools.partial(done_since, busy, table, "last_vacuum", before)
        assert wait_until(vacuumed, timeout=10), table
    assert table_stats(busy, "procrastinate_jobs")["last_vacuum"] is None
    assert table_stats(busy, "scratch_scanned")["dead"] == SCRATCH_DELETED


def indexes(url: str) -> dict[str, tuple[int, bool]]:
    rows = fetch(
        url,
        "SELECT c.relname, c.oid, i.indisvalid FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid = 'nchat_messages'::regclass",
    )
    return {name: (oid, valid) for name, oid, valid in rows}


class Writer(threading.Thread):
    """Sends messages, one short transaction each, until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.written: list[float] = []
        self.errors: list[BaseException] = []
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            with psycopg.connect(libpq_url(self.url), autocommit=True) as conn:
                while not self.stop.is_set():
                    conn.execute(
                        "INSERT INTO nchat_messages (id, channel_id, user_id, text) "
                        "VALUES (%s, %s, %s, 'written during the reindex')",
                        (uuid7(), ROWS.channel, ROWS.ada),
                    )
                    self.written.append(time.monotonic())
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)


def test_reindex_rebuilds_valid_indexes_while_another_session_writes(busy: str) -> None:
    old = indexes(busy)
    writer = Writer(busy)
    writer.start()
    try:
        assert wait_until(lambda: len(writer.written) >= 20, timeout=10), writer.errors
        began = time.monotonic()
        result = cli(busy, "maintain", "--reindex", "nchat_messages")
        ended = time.monotonic()
        assert wait_until(lambda: writer.written[-1] > ended, timeout=10), writer.errors
    finally:
        writer.stop.set()
        writer.join(10)

    assert result.exit_code == 0, result.output
    assert "Reindexed nchat_messages" in result.stdout
    assert writer.errors == []
    assert any(began < at < ended for at in writer.written)
    new = indexes(busy)
    assert set(new) == set(old)  # no leftover _ccnew/_ccold copies
    assert all(valid for _, valid in new.values())
    assert all(new[name][0] != oid for name, (oid, _) in old.items())  # each one rebuilt
    [(rows,)] = fetch(busy, "SELECT count(*) FROM nchat_messages")
    assert rows == MESSAGES + len(writer.written)


@pytest.mark.parametrize(
    "name", ["nchat_nope", "procrastinate_jobs", "pg_class", "nchat_messages; DROP TABLE x"]
)
def test_a_table_that_is_not_nchats_is_refused_with_exit_code_2(busy: str, name: str) -> None:
    result = cli(busy, "maintain", "--vacuum", name)

    assert result.exit_code == 2
    assert f"{name} is not one of nchat's tables" in result.output
    assert "Traceback" not in result.output


def test_near_miss_gets_a_suggestion_and_one_action_is_required(busy: str) -> None:
    near = cli(busy, "maintain", "--analyze", "nchat_mesages")
    none = cli(busy, "maintain", "nchat_messages")
    both = cli(busy, "maintain", "--analyze", "--reindex")

    assert near.exit_code == 2 and "did you mean nchat_messages?" in near.output
    for result in (none, both):
        assert result.exit_code == 2
        assert "pass exactly one of --analyze, --vacuum, --reindex" in result.output


def test_stats_and_maintain_against_the_embedded_server() -> None:
    """No NCHAT_DATABASE_URL: the embedded server loads pg_stat_statements itself."""
    runner = CliRunner()
    with embedded_data_dir() as data_dir:
        env = {"NCHAT_DATA_DIR": str(data_dir), "NCHAT_DATABASE_URL": None}
        up = runner.invoke(app, ["db", "migrate", "up"], env=env)
        assert up.exit_code == 0, up.output
        stats = runner.invoke(app, ["db", "stats", "--json"], env=env)
        analyze = runner.invoke(app, ["db", "maintain", "--analyze", "nchat_users"], env=env)

    assert stats.exit_code == 0, stats.output
    doc = json.loads(stats.stdout)
    assert doc["database"]["name"] == "nchat"
    assert "nchat_messages" in by_name(doc["tables"])
    statements = doc["statements"]
    assert statements["status"] == "available", statements
    assert statements["database"] == "postgres"  # kept out of nchat's own database
    assert statements["queries"]  # the migration's statements, at least
    assert analyze.exit_code == 0, analyze.output
    assert "Analyzed nchat_users" in analyze.stdout
