"""What the live schema holds, read from pg_catalog: the schema report operators save before an
upgrade and compare after it, and the catalog reads `doctor` and `restore` share.

Scope: nchat owns its database, so the report covers everything in schema `public` except
objects that belong to an extension (an extension installed into `public` would otherwise
add hundreds of functions). On a migrated database that is the `nchat_*` tables plus the
migration bookkeeping tables `schema_migrations` and `alembic_version`. Columns, indexes,
constraints and triggers are those on these tables; NOT NULL is a column property, not a
constraint (PostgreSQL 18 catalogs it as one, 15 does not, and the report must not differ by
server version). Materialized views count as views.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import unquote

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from nchat.db.engine import async_url

T = TypeVar("T")

COMPONENTS = ("tables", "columns", "indexes", "constraints", "functions", "triggers", "views")
REPORT_FORMAT = 1
CONNECT_TIMEOUT_S = 10

# Relations of schema public that no extension owns; every other query hangs off this.
_RELATIONS = """
SELECT c.oid, c.relname, c.relkind
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
"""
_TABLES = f"SELECT oid, relname FROM ({_RELATIONS}) r WHERE relkind IN ('r', 'p')"


class DatabaseUnreachable(Exception):
    """The server could not be reached or refused the connection."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot connect to {url}: {reason}")
        self.url = url
        self.reason = reason


def redacted(url: str) -> str:
    """The URL without its password, for messages (a socket dir shown as a plain path)."""
    return unquote(make_url(url).render_as_string(hide_password=True))


def run_on_database(url: str, fn: Callable[[Connection], T]) -> T:
    """Run `fn` on one connection (autocommit off; nothing is committed). Synchronous."""
    return asyncio.run(_run_on_database(url, fn))


async def _run_on_database(url: str, fn: Callable[[Connection], T]) -> T:
    engine = create_async_engine(
        async_url(url),
        poolclass=sa.pool.NullPool,
        connect_args={"timeout": CONNECT_TIMEOUT_S},
    )
    try:
        try:
            conn = await engine.connect()
        except sa.exc.DBAPIError as exc:
            raise DatabaseUnreachable(redacted(url), _reason(exc.orig or exc)) from exc
        except (OSError, TimeoutError) as exc:
            raise DatabaseUnreachable(redacted(url), _reason(exc)) from exc
        try:
            return await conn.run_sync(fn)
        finally:
            await conn.close()
    finally:
        await engine.dispose()


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    # The asyncpg adapter prefixes the driver's class: keep only the server's words.
    return text.split(">: ", 1)[-1]


@dataclass
class Catalog:
    """The live schema, keyed by names (index names are unique per schema)."""

    tables: set[str] = field(default_factory=set)
    not_null: dict[tuple[str, str], bool] = field(default_factory=dict)
    indexes: dict[str, str] = field(default_factory=dict)
    constraints: dict[tuple[str, str], str] = field(default_factory=dict)
    functions: list[str] = field(default_factory=list)
    triggers: list[tuple[str, str]] = field(default_factory=list)
    views: list[str] = field(default_factory=list)

    def objects(self) -> dict[str, list[str]]:
        return {
            "tables": sorted(self.tables),
            "columns": sorted(f"{t}.{c}" for t, c in self.not_null),
            "indexes": sorted(self.indexes),
            "constraints": sorted(f"{t}.{c}" for t, c in self.constraints),
            "functions": sorted(self.functions),
            "triggers": sorted(f"{t}.{g}" for t, g in self.triggers),
            "views": sorted(self.views),
        }


def _rows(conn: Connection, sql: str) -> Sequence[sa.Row[Any]]:
    return conn.execute(sa.text(sql)).all()


def read_catalog(conn: Connection) -> Catalog:
    cat = Catalog()
    cat.tables = {r.relname for r in _rows(conn, _TABLES)}
    for r in _rows(
        conn,
        f"""SELECT t.relname, a.attname, a.attnotnull FROM ({_TABLES}) t
            JOIN pg_attribute a ON a.attrelid = t.oid
            WHERE a.attnum > 0 AND NOT a.attisdropped""",
    ):
        cat.not_null[(r.relname, r.attname)] = bool(r.attnotnull)
    for r in _rows(
        conn,
        f"""SELECT t.relname, i.relname AS index_name FROM ({_TABLES}) t
            JOIN pg_index x ON x.indrelid = t.oid JOIN pg_class i ON i.oid = x.indexrelid""",
    ):
        cat.indexes[r.index_name] = r.relname
    for r in _rows(
        conn,
        f"""SELECT t.relname, c.conname, c.contype FROM ({_TABLES}) t
            JOIN pg_constraint c ON c.conrelid = t.oid
            WHERE c.contype IN ('p', 'u', 'f', 'c', 'x')""",
    ):
        cat.constraints[(r.relname, r.conname)] = str(r.contype)
    cat.functions = [
        r.signature
        for r in _rows(
            conn,
            """SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')'
                      AS signature
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = 'public'
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                                 AND d.objid = p.oid AND d.deptype = 'e')""",
        )
    ]
    cat.triggers = [
        (r.relname, r.tgname)
        for r in _rows(
            conn,
            f"""SELECT t.relname, g.tgname FROM ({_TABLES}) t
                JOIN pg_trigger g ON g.tgrelid = t.oid WHERE NOT g.tgisinternal""",
        )
    ]
    cat.views = [
        r.relname
        for r in _rows(conn, f"SELECT relname FROM ({_RELATIONS}) r WHERE relkind IN ('v', 'm')")
    ]
    return cat


def count_rows(conn: Connection, tables: Sequence[str]) -> dict[str, int]:
    """Exact row counts (count(*), not planner estimates: operators compare them)."""
    quote = conn.dialect.identifier_preparer.quote
    return {
        name: int(conn.execute(sa.text(f"SELECT count(*) FROM public.{quote(name)}")).scalar_one())
        for name in sorted(tables)
    }


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


@dataclass(frozen=True)
class SchemaReport:
    database: str
    server_version: str
    revision: str | None
    generated_at: str
    objects: dict[str, list[str]]
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": REPORT_FORMAT,
            "scope": "schema public, excluding extension members",
            "database": self.database,
            "server_version": self.server_version,
            "revision": self.revision,
            "generated_at": self.generated_at,
            "counts": self.counts,
            "objects": self.objects,
        }

    @classmethod
    def from_dict(cls, data: Any) -> SchemaReport:
        """Read a saved report; one with counts but no object names is accepted too."""
        if not isinstance(data, dict) or not isinstance(data.get("counts"), dict):
            raise ValueError("not an nchat schema report (no 'counts' object)")
        raw_objects = data.get("objects") or {}
        objects = {c: [str(o) for o in raw_objects.get(c, [])] for c in COMPONENTS}
        counts: dict[str, int] = {}
        for c in COMPONENTS:
            value = data["counts"].get(c, len(objects[c]))
            if not isinstance(value, int):
                raise ValueError(f"counts.{c} is not a number")
            counts[c] = value
        return cls(
            database=str(data.get("database", "")),
            server_version=str(data.get("server_version", "")),
            revision=data.get("revision"),
            generated_at=str(data.get("generated_at", "")),
            objects=objects,
            counts=counts,
        )


def schema_report(url: str) -> SchemaReport:
    return run_on_database(url, _report)


def _report(conn: Connection) -> SchemaReport:
    objects = read_catalog(conn).objects()
    head = conn.execute(
        sa.text("SELECT current_database(), current_setting('server_version')")
    ).one()
    return SchemaReport(
        database=head[0],
        server_version=head[1],
        revision=current_revision(conn),
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        objects=objects,
        counts={c: len(objects[c]) for c in COMPONENTS},
    )


@dataclass(frozen=True)
class ComponentChange:
    component: str
    before: int
    after: int
    added: list[str]
    removed: list[str]

    @property
    def changes(self) -> str:
        parts = []
        if self.added:
            parts.append(f"+{len(self.added)}")
        if self.removed:
            parts.append(f"-{len(self.removed)}")
        if not parts and self.after != self.before:
            # A report saved without object names: only the net difference is known.
            parts.append(f"{self.after - self.before:+d}")
        return " / ".join(parts) or "no change"


def compare(before: SchemaReport, after: SchemaReport) -> list[ComponentChange]:
    changes = []
    for c in COMPONENTS:
        known = bool(before.objects[c] or before.counts[c] == 0)
        old, new = set(before.objects[c]), set(after.objects[c])
        changes.append(
            ComponentChange(
                component=c,
                before=before.counts[c],
                after=after.counts[c],
                added=sorted(new - old) if known else [],
                removed=sorted(old - new) if known else [],
            )
        )
    return changes


def markdown(rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (first row: header), padded so it reads well in a terminal too."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]

    def line(cells: Sequence[str]) -> str:
        padded = (cell.ljust(w) for cell, w in zip(cells, widths, strict=True))
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(rows[0]), rule, *(line(r) for r in rows[1:])])


def comparison_table(changes: Sequence[ComponentChange]) -> str:
    """`Component | before | after | Changes`, one row per component."""
    return markdown(
        [
            ("Component", "before", "after", "Changes"),
            *((c.component, str(c.before), str(c.after), c.changes) for c in changes),
        ]
    )


def change_details(changes: Sequence[ComponentChange], limit: int = 12) -> list[str]:
    """One line per component with named additions or removals, for below the table; long
    lists are cut at `limit` names (the JSON comparison has them all)."""

    def names(items: list[str]) -> str:
        more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
        return ", ".join(items[:limit]) + more

    lines = []
    for c in changes:
        if c.added:
            lines.append(f"Added {c.component}: {names(c.added)}")
        if c.removed:
            lines.append(f"Removed {c.component}: {names(c.removed)}")
    return lines
