"""Migrations: the schema_migrations mirror, working downgrades on a database holding rows,
and concurrent starts. Written against `migrate.history()`, so later revisions are covered
without editing this file (a new table only needs a fill rule if its columns need one)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.db import migrate
from nchat.db.engine import create_engine, libpq_url
from nchat.tables import metadata
from tests.db import sql
from tests.fixtures.processes import throwaway_database
from tests.fixtures.rows import Mentions

REVISION_ID = re.compile(r"^\d{8}_\d{4}$")

# Tables that hold exactly one row from the migration on (they get an UPDATE, not an INSERT).
# Tables whose one row the migrations write.
SINGLE_ROW_TABLES = {"nchat_app_config", "nchat_notifier_position"}


@pytest.fixture
def fresh_url(server_url: str) -> Iterator[str]:
    with throwaway_database(server_url) as url:
        yield url


# -- database helpers -------------------------------------------------------------------


async def _fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    return asyncio.run(_fetch(url, sql, *args))


def mirror(url: str) -> list[tuple[str, str]]:
    """schema_migrations, oldest first ([] when the table does not exist yet)."""
    exists = fetch(url, "SELECT to_regclass('public.schema_migrations') IS NOT NULL AS e")[0]["e"]
    if not exists:
        return []
    rows = fetch(url, "SELECT version, name FROM schema_migrations ORDER BY version")
    return [(r["version"], r["name"]) for r in rows]


def latest_in_mirror(url: str) -> str | None:
    """The seed guide's query."""
    rows = fetch(url, "SELECT version FROM schema_migrations ORDER BY version DESC LIMIT 1")
    return rows[0]["version"] if rows else None


def expected_mirror(upto: str | None) -> list[tuple[str, str]]:
    return [(r.version, r.name) for r in migrate.applied_chain(upto)]


def assert_at(url: str, revision: str | None) -> None:
    """Alembic and the mirror agree that `revision` (None: base) is the current one."""
    assert migrate.current(url) == revision
    assert latest_in_mirror(url) == revision
    assert mirror(url) == expected_mirror(revision)
    applied_at = fetch(url, "SELECT count(*) AS n FROM schema_migrations WHERE applied_at IS NULL")
    assert applied_at[0]["n"] == 0


def nchat_tables(url: str) -> list[str]:
    """What `\\dt nchat_*` lists: ordinary and partitioned tables named nchat_..."""
    rows = fetch(
        url,
        r"""
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname LIKE 'nchat\_%'
        ORDER BY 1
        """,
    )
    return [r["relname"] for r in rows]


# Alembic's bookkeeping, not schema that migrations create.
BOOKKEEPING = "('alembic_version', 'schema_migrations')"


def schema_snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a migration can create in schema public, as comparable text."""
    queries = {
        "tables": r"""
            SELECT c.relname, c.relkind::text FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
              AND c.relname NOT IN {BOOKKEEPING}
            ORDER BY 1""",
        "columns": """
            SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0
              AND NOT a.attisdropped AND c.relname NOT IN {BOOKKEEPING}
            ORDER BY 1, 2""",
        "indexes": """
            SELECT tablename, indexname, indexdef FROM pg_indexes
            WHERE schemaname = 'public' AND tablename NOT IN {BOOKKEEPING}
            ORDER BY 1, 2""",
        "constraints": """
            SELECT c.relname, k.conname, pg_get_constraintdef(k.oid) FROM pg_constraint k
            JOIN pg_class c ON c.oid = k.conrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relname NOT IN {BOOKKEEPING}
            ORDER BY 1, 2""",
        "triggers": """
            SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY 1, 2""",
        # Not the extensions' own (pg_trgm, unaccent): a downgrade leaves the extensions in
        # place, for whatever else in the database may use them.
        "functions": """
            SELECT p.proname, pg_get_function_identity_arguments(p.oid) FROM pg_proc p
            JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public'
              AND NOT EXISTS (
                SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e'
              )
            ORDER BY 1, 2""",
        "types": """
            SELECT t.typname, t.typtype::text FROM pg_type t
            JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c')
              AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)
            ORDER BY 1""",
    }
    return {
        key: [tuple(r) for r in fetch(url, sql.format(BOOKKEEPING=BOOKKEEPING))]
        for key, sql in queries.items()
    }


# -- rows in every table -----------------------------------------------------------------

# Columns whose valid values the generic rules below cannot guess ("table.column": value).
# A new table whose insert fails here needs an entry, not a change of approach.
# A device row must have the shape of its platform: a token one is the simplest.
OVERRIDES: dict[str, Any] = {"nchat_push_devices.platform": "apns"}

# `col IN ('a', 'b', ...)`: the whole of a check constraint that allows a list of values.
ALLOWED_VALUES = re.compile(r"^\(?\s*(\w+)\s+IN\s*\(([^)]*)\)\s*\)?$", re.IGNORECASE)


def _allowed_values(table: sa.Table) -> dict[str, str]:
    """column -> the first value its `IN (...)` check constraint allows."""
    allowed = {}
    for constraint in table.constraints:
        if isinstance(constraint, sa.CheckConstraint):
            match = ALLOWED_VALUES.match(str(constraint.sqltext).strip())
            if match:
                first = match.group(2).split(",")[0].strip().strip("'")
                allowed[match.group(1)] = first
    return allowed


def _sample(table: sa.Table, column: sa.Column[Any], tag: str) -> Any:
    kind = column.type
    if isinstance(kind, sa.Uuid):
        return uuid.uuid4()
    if isinstance(kind, sa.Enum):
        return kind.enums[0]
    if isinstance(kind, sa.String):  # Text included
        return f"{table.name.removeprefix('nchat_')}-{column.name}-{tag}@example.com"
    if isinstance(kind, sa.Boolean):
        return True
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, sa.DateTime):
        return datetime.now(UTC) + timedelta(days=1)
    if isinstance(kind, postgresql.JSONB | sa.JSON):
        return {"sample": tag}
    raise AssertionError(
        f"teach test_migrations how to fill {table.name}.{column.name} ({kind!r}): OVERRIDES"
    )


def _row(table: sa.Table, inserted: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A valid row: required columns only (NULL and server defaults for the rest), foreign
    keys pointing at the rows inserted into the parents before."""
    tag = uuid.uuid4().hex[:8]
    allowed = _allowed_values(table)
    row: dict[str, Any] = {}
    for column in table.columns:
        key = f"{table.name}.{column.name}"
        if key in OVERRIDES:
            row[column.name] = OVERRIDES[key]
            continue
        required = not column.nullable and column.server_default is None
        if not required or column.identity is not None:
            continue
        foreign = next(iter(column.foreign_keys), None)
        if foreign is not None:
            row[column.name] = inserted[foreign.column.table.name][foreign.column.name]
        elif column.name in allowed:
            row[column.name] = allowed[column.name]
        else:
            row[column.name] = _sample(table, column, tag)
    return row


async def _fill_every_table(url: str) -> dict[str, int]:
    engine = create_engine(url, pool_size=1)
    inserted: dict[str, dict[str, Any]] = {}
    try:
        async with engine.begin() as conn:
            for table in metadata.sorted_tables:
                if table.name in SINGLE_ROW_TABLES:
                    json_columns = [
                        c for c in table.columns if isinstance(c.type, postgresql.JSONB)
                    ]
                    if json_columns:
                        await conn.execute(
                            table.update().values({c.name: {"filled": True} for c in json_columns})
                        )
                    continue
                values = _row(table, inserted)
                result = await conn.execute(table.insert().values(values).returning(table))
                inserted[table.name] = dict(result.mappings().one())
            return await _counts(conn)
    finally:
        await engine.dispose()


async def _counts(conn: AsyncConnection) -> dict[str, int]:
    counts = {}
    for table in metadata.sorted_tables:
        counts[table.name] = int(
            await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0
        )
    return counts


def _diff_against_models(sync: Connection) -> list[Any]:
    def nchat_only(name: str | None, type_: str, _parents: Any) -> bool:
        return type_ != "table" or (name or "").startswith("nchat_")

    ctx = MigrationContext.configure(sync, opts={"include_name": nchat_only, "compare_type": True})
    return list(compare_metadata(ctx, metadata))


async def _model_diff(url: str) -> list[Any]:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff_against_models)
    finally:
        await engine.dispose()


# -- the revision graph ------------------------------------------------------------------


def test_history_is_one_ordered_line_of_named_revisions() -> None:
    revisions = migrate.history()
    assert revisions, "no migrations at all"
    versions = [r.version for r in revisions]
    assert all(REVISION_ID.match(v) for v in versions), versions
    # ORDER BY version (the mirror's latest-row query) must agree with the graph's order.
    assert versions == sorted(versions)
    assert len(set(versions)) == len(versions)
    assert migrate.script_directory().get_heads() == [versions[-1]]
    assert migrate.head() == versions[-1]
    for rev in revisions:
        assert rev.name, f"{rev.version} has no description"
        script = migrate.script_directory().get_revision(rev.version)
        assert script is not None
        assert callable(getattr(script.module, "downgrade", None)), rev.version


def test_fresh_database_has_everything_pending(fresh_url: str) -> None:
    assert migrate.current(fresh_url) is None
    assert migrate.pending(fresh_url) == migrate.history()
    assert nchat_tables(fresh_url) == []


# -- the mirror, step by step ------------------------------------------------------------


def test_mirror_follows_every_step_up_and_down(fresh_url: str) -> None:
    revisions = migrate.history()
    for rev in revisions:
        migrate.upgrade(fresh_url, rev.version)
        assert_at(fresh_url, rev.version)
        assert migrate.pending(fresh_url) == revisions[revisions.index(rev) + 1 :]

    for index in range(len(revisions) - 1, -1, -1):
        migrate.downgrade(fresh_url, steps=1)
        below = revisions[index - 1].version if index > 0 else None
        assert_at(fresh_url, below)

    assert nchat_tables(fresh_url) == []
    assert fetch(fresh_url, "SELECT count(*) AS n FROM schema_migrations")[0]["n"] == 0


def test_upgrade_and_downgrade_to_named_revisions(fresh_url: str) -> None:
    revisions = migrate.history()
    migrate.upgrade(fresh_url)
    assert_at(fresh_url, revisions[-1].version)
    migrate.downgrade(fresh_url, to=revisions[0].version)
    assert_at(fresh_url, revisions[0].version)
    migrate.downgrade(fresh_url, to="base")
    assert_at(fresh_url, None)
    migrate.upgrade(fresh_url, "head")
    assert_at(fresh_url, revisions[-1].version)


def test_mirror_is_repaired_by_the_next_upgrade(fresh_url: str) -> None:
    head = migrate.head()
    migrate.upgrade(fresh_url)
    fetch(fresh_url, "DELETE FROM schema_migrations")
    fetch(fresh_url, "INSERT INTO schema_migrations (version, name) VALUES ('99999999_9999', 'x')")
    migrate.upgrade(fresh_url)  # nothing pending: only the mirror is put right
    assert_at(fresh_url, head)

    fetch(fresh_url, "DROP TABLE schema_migrations")
    migrate.upgrade(fresh_url)
    assert_at(fresh_url, head)


# -- up, down, up with data ----------------------------------------------------------------


def test_up_down_up_on_a_database_holding_rows(fresh_url: str) -> None:
    migrate.upgrade(fresh_url)
    tables = nchat_tables(fresh_url)
    assert tables == sorted(t.name for t in metadata.sorted_tables)
    before = schema_snapshot(fresh_url)

    counts = asyncio.run(_fill_every_table(fresh_url))
    assert set(counts) == set(tables)
    assert all(n >= 1 for n in counts.values()), counts

    migrate.downgrade(fresh_url, to="base")
    assert_at(fresh_url, None)
    assert nchat_tables(fresh_url) == []
    assert schema_snapshot(fresh_url) == {key: [] for key in before}

    migrate.upgrade(fresh_url)
    assert_at(fresh_url, migrate.head())
    assert nchat_tables(fresh_url) == tables
    assert schema_snapshot(fresh_url) == before
    config = fetch(fresh_url, "SELECT id, setup, mobile FROM nchat_app_config")
    assert [(r["id"], r["setup"], r["mobile"]) for r in config] == [(1, "{}", None)]


def test_head_matches_the_models(fresh_url: str) -> None:
    migrate.upgrade(fresh_url)
    assert asyncio.run(_model_diff(fresh_url)) == []


def test_mention_marks_start_from_the_mentions_already_written(fresh_url: str) -> None:
    rows = Mentions.make(2)
    migrate.upgrade(fresh_url, "20261202_0005")
    sql(fresh_url, rows.sql())
    migrate.upgrade(fresh_url)
    marks = fetch(fresh_url, "SELECT user_id, last_mention_id FROM nchat_channel_members")
    assert {r["user_id"]: r["last_mention_id"] for r in marks} == {
        rows.ada: None,
        rows.bob: rows.messages[-1],
    }


# -- concurrency ---------------------------------------------------------------------------


def _assert_migrated_once(url: str) -> None:
    versions = [r.version for r in migrate.history()]
    rows = fetch(url, "SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == versions
    assert [r["version_num"] for r in fetch(url, "SELECT version_num FROM alembic_version")] == [
        versions[-1]
    ]
    assert nchat_tables(url) == sorted(t.name for t in metadata.sorted_tables)


def test_concurrent_upgrades_from_threads(fresh_url: str) -> None:
    workers = 6
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            migrate.upgrade(fresh_url)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    _assert_migrated_once(fresh_url)


UPGRADE_AT = """
import sys, time
from nchat.db import migrate
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
migrate.upgrade(sys.argv[1])
"""


def test_concurrent_upgrades_from_processes(fresh_url: str, tmp_path: Path) -> None:
    # Every process imports first, then all start migrating at the same wall-clock moment.
    start_at = time.time() + 3.0
    logs = [tmp_path / f"upgrade-{i}.log" for i in range(4)]
    procs = []
    for log in logs:
        with log.open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", UPGRADE_AT, fresh_url, str(start_at)],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        codes = [p.wait(60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert codes == [0] * len(procs), "\n".join(log.read_text() for log in logs)
    _assert_migrated_once(fresh_url)


async def test_upgrade_waits_for_the_migration_lock(fresh_url: str) -> None:
    holder = await asyncpg.connect(libpq_url(fresh_url))
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", migrate.MIGRATION_LOCK_KEY)
        upgrading = asyncio.ensure_future(asyncio.to_thread(migrate.upgrade, fresh_url))
        await asyncio.sleep(1.5)
        assert not upgrading.done()
        # It retries between transactions, never blocks on the lock inside one: a concurrent
        # index build by the node migrating would wait on that transaction forever.
        blocked = await holder.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
        )
        assert blocked == 0
        assert await holder.fetchval("SELECT to_regclass('public.nchat_users')") is None
        await holder.execute("SELECT pg_advisory_unlock($1)", migrate.MIGRATION_LOCK_KEY)
        await asyncio.wait_for(upgrading, 60)
    finally:
        await holder.close()
    assert await asyncio.to_thread(migrate.current, fresh_url) == migrate.head()


# -- errors ----------------------------------------------------------------------------------


def test_unknown_or_unreachable_targets_raise_migration_error(fresh_url: str) -> None:
    with pytest.raises(migrate.MigrationError, match="nope"):
        migrate.upgrade(fresh_url, "nope")
    with pytest.raises(migrate.MigrationError):
        migrate.downgrade(fresh_url, steps=1)  # nothing applied
    migrate.upgrade(fresh_url)
    with pytest.raises(migrate.MigrationError):
        migrate.downgrade(fresh_url, steps=len(migrate.history()) + 1)
    with pytest.raises(migrate.MigrationError):
        migrate.applied_chain("nope")
    assert_at(fresh_url, migrate.head())


def test_downgrade_needs_exactly_one_target(fresh_url: str) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        migrate.downgrade(fresh_url)
    with pytest.raises(ValueError, match="exactly one"):
        migrate.downgrade(fresh_url, to="base", steps=1)
    with pytest.raises(ValueError, match="at least 1"):
        migrate.downgrade(fresh_url, steps=0)
