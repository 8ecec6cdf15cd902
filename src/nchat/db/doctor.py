"""`nchat db doctor`: is this database fit to serve nchat, and if not, what to do about it.

Checks: the connection and server version, pending migrations, schema drift against the
models' MetaData (tables, columns and their nullability, indexes and constraints by the
names the naming convention gives them, the triggers named in a table's `info`), and
connection headroom, and whether pg_stat_statements can be read (a warning when not: it is
optional); it also reports row counts, database size and connections. Column
types are not compared: the names of types differ between SQLAlchemy and the catalog, and
a false alarm in a health check costs more than the rare hand-altered type it would catch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.sql.ddl import BaseDDLElement

from nchat.db import migrate
from nchat.db.schema_report import (
    Catalog,
    DatabaseUnreachable,
    count_rows,
    current_revision,
    read_catalog,
    redacted,
    run_on_database,
)
from nchat.db.stats import statements_status
from nchat.tables import metadata

CONNECTIONS_WARN_RATIO = 0.9
RESTORE_HINT = "or restore the latest backup: `nchat db restore --force FILE`"

_dialect = postgresql.dialect()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Problem:
    check: str
    message: str
    hint: str


@dataclass(frozen=True)
class Check:
    name: str
    status: Literal["ok", "fail", "skipped", "warn"]
    detail: str
    hint: str | None = None  # what to do about a warning

    @property
    def ok(self) -> bool:
        return self.status != "fail"


@dataclass
class DoctorReport:
    url: str
    checks: list[Check] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    database: str | None = None
    server_version: str | None = None
    server_version_num: int | None = None
    revision: str | None = None
    head: str | None = None
    pending_migrations: list[str] = field(default_factory=list)
    size_bytes: int | None = None
    size: str | None = None
    connections: int | None = None
    server_connections: int | None = None
    max_connections: int | None = None
    row_counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["checks"] = [{"ok": c.ok, **asdict(c)} for c in self.checks]
        return {"ok": self.ok, **data}

    def add(self, name: str, detail: str, problems: list[Problem] | None = None) -> None:
        self.checks.append(Check(name=name, status="fail" if problems else "ok", detail=detail))
        self.problems.extend(problems or [])

    def skip(self, name: str, detail: str) -> None:
        self.checks.append(Check(name=name, status="skipped", detail=detail))

    def warn(self, name: str, detail: str, hint: str | None) -> None:
        """Worth knowing, not a problem: the report stays ok."""
        self.checks.append(Check(name=name, status="warn", detail=detail, hint=hint))


def diagnose(url: str, *, embedded: bool = False) -> DoctorReport:
    """Run every check; never raises for an unreachable database (that is a problem too)."""
    report = DoctorReport(url=redacted(url), head=migrate.head())
    try:
        run_on_database(url, lambda conn: _diagnose(conn, report))
        _check_statements(url, report, embedded=embedded)
    except sa.exc.DBAPIError as exc:
        # Connected, then a check's query failed (e.g. a role without rights on the catalog).
        report.add(
            "queries",
            "a check could not run",
            [
                Problem(
                    "queries",
                    f"the database refused a check's query: {exc.orig or exc}",
                    "run `nchat db doctor` as the role nchat itself connects as, which owns "
                    "the tables",
                )
            ],
        )
    except DatabaseUnreachable as exc:
        report.add(
            "connection",
            f"unreachable: {exc.reason}",
            [
                Problem(
                    "connection",
                    f"cannot connect to {exc.url}: {exc.reason}",
                    "check NCHAT_DATABASE_URL (postgresql://user:password@host:port/database) "
                    "and that the server is running and accepts connections; unset "
                    "NCHAT_DATABASE_URL to use the embedded server in the data dir",
                )
            ],
        )
    return report


def _diagnose(conn: Connection, report: DoctorReport) -> None:
    info = conn.execute(
        sa.text(
            "SELECT current_database() AS db, current_setting('server_version') AS version, "
            "current_setting('server_version_num')::int AS version_num, "
            "pg_database_size(current_database()) AS size_bytes, "
            "pg_size_pretty(pg_database_size(current_database())) AS size, "
            "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()) "
            "AS connections, "
            "(SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') "
            "AS server_connections, "
            "current_setting('max_connections')::int AS max_connections"
        )
    ).one()
    report.database = info.db
    report.server_version = info.version
    report.server_version_num = info.version_num
    report.size_bytes = int(info.size_bytes)
    report.size = info.size
    report.connections = int(info.connections)
    report.server_connections = int(info.server_connections)
    report.max_connections = info.max_connections
    report.add("connection", f"PostgreSQL {info.version}, database {info.db}")

    at_head = _check_migrations(conn, report)
    catalog = read_catalog(conn)
    if at_head:
        drift = schema_drift(catalog)
        detail = f"{len(drift)} difference(s) from the models" if drift else "matches the models"
        report.add("schema", detail, drift)
    else:
        report.skip("schema", "not checked until the database is at this version's head")
    _check_connections(report)
    report.add("size", info.size)
    report.row_counts = count_rows(conn, [t for t in catalog.tables if t.startswith("nchat_")])


def _check_migrations(conn: Connection, report: DoctorReport) -> bool:
    """Record the migration state; True when the database is at head."""
    report.revision = current_revision(conn)
    newer = migrate.ahead_of(conn, report.revision)
    if newer is not None and newer.compatible:
        report.warn(
            "migrations",
            f"at {report.revision}, newer than this nchat: a newer version migrated it "
            f"({', '.join(newer.unknown)}); those migrations only add, so this version "
            "runs on it (a rollback in a rolling upgrade)",
            "finish the upgrade: run the newer version everywhere",
        )
        return False
    if newer is not None:
        report.add(
            "migrations",
            f"at unknown revision {report.revision}",
            [
                Problem(
                    "migrations",
                    f"the database is at revision {report.revision}, which this nchat "
                    "version does not know (a newer nchat migrated it) and cannot run on "
                    f"(not every newer migration only adds: {', '.join(newer.unknown)})",
                    "run the nchat version that migrated it, or restore a backup taken "
                    "before the upgrade: `nchat db restore --force FILE`",
                )
            ],
        )
        return False
    pending = migrate.pending_after(report.revision)
    report.pending_migrations = [r.version for r in pending]
    if not pending:
        report.add("migrations", f"at {report.revision} (head)")
        return True
    n = len(pending)
    report.add(
        "migrations",
        f"at {report.revision or '(none)'}, {n} pending",
        [
            Problem(
                "migrations",
                f"{n} pending migration{'s' if n != 1 else ''} "
                f"({', '.join(report.pending_migrations)})",
                "run `nchat db migrate up` (take a backup first: `nchat db backup`)",
            )
        ],
    )
    return False


def _check_statements(url: str, report: DoctorReport, *, embedded: bool) -> None:
    found = statements_status(url, embedded=embedded)
    if found.available:
        report.add("pg_stat_statements", f"available (in database {found.database})")
        return
    report.warn(
        "pg_stat_statements",
        f"not available ({found.status.replace('_', ' ')}): `nchat db stats` cannot show "
        "the slowest queries",
        found.hint,
    )


def _check_connections(report: DoctorReport) -> None:
    # max_connections is server-wide: headroom is about every database's clients.
    used, limit = report.server_connections or 0, report.max_connections or 0
    problems = []
    if limit and used >= limit * CONNECTIONS_WARN_RATIO:
        problems.append(
            Problem(
                "connections",
                f"{used} of max_connections={limit} connections to the server in use",
                "raise max_connections in postgresql.conf, or lower NCHAT_DB_POOL_SIZE "
                "or the number of workers",
            )
        )
    report.add(
        "connections",
        f"{report.connections} to this database, {used} to the server (max_connections {limit})",
        problems,
    )


def _name(obj: sa.Index | sa.Constraint) -> str | None:
    """The name the DDL gives it: the naming convention applied, truncated like PostgreSQL's."""
    try:
        name = _dialect.identifier_preparer.format_constraint(obj)
    except sa.exc.InvalidRequestError:
        return None  # an unnamed constraint a type creates implicitly; nothing to look up
    return name.strip('"') if name else None


def _ddl(element: BaseDDLElement) -> str:
    return str(element.compile(dialect=_dialect)).strip()


def schema_drift(catalog: Catalog) -> list[Problem]:
    """Every table, column, index and constraint of the models that the catalog lacks."""
    problems: list[Problem] = []
    for table in metadata.sorted_tables:
        if table.name not in catalog.tables:
            problems.append(
                Problem(
                    "schema",
                    f"table {table.name} missing",
                    "the schema no longer matches its migration history: restore the latest "
                    f"backup (`nchat db restore --force FILE`), or recreate it in psql: "
                    f"{_ddl(sa.schema.CreateTable(table))};",
                )
            )
            continue
        problems += _column_drift(table, catalog)
        problems += _index_drift(table, catalog)
        problems += _constraint_drift(table, catalog)
        problems += _trigger_drift(table, catalog)
    return problems


def _column_drift(table: sa.Table, catalog: Catalog) -> list[Problem]:
    problems = []
    for column in table.columns:
        not_null = catalog.not_null.get((table.name, column.name))
        if not_null is None:
            problems.append(
                Problem(
                    "schema",
                    f"column {column.name} missing on {table.name}",
                    f"recreate it in psql: ALTER TABLE {table.name} ADD COLUMN "
                    f"{_ddl(sa.schema.CreateColumn(column))}; ({RESTORE_HINT} to get its data "
                    "back)",
                )
            )
        elif not_null == column.nullable:
            want = "NOT NULL" if not column.nullable else "nullable"
            action = "SET NOT NULL" if not column.nullable else "DROP NOT NULL"
            problems.append(
                Problem(
                    "schema",
                    f"column {table.name}.{column.name} should be {want}",
                    f"in psql: ALTER TABLE {table.name} ALTER COLUMN {column.name} {action};"
                    + (" (fill NULL values first)" if not column.nullable else ""),
                )
            )
    return problems


def _index_drift(table: sa.Table, catalog: Catalog) -> list[Problem]:
    problems = []
    for index in sorted(table.indexes, key=lambda i: str(i.name)):
        name = _name(index)
        if name is None or catalog.indexes.get(name) == table.name:
            continue
        problems.append(
            Problem(
                "schema",
                f"index {name} missing on {table.name}",
                f"recreate it in psql: {_ddl(sa.schema.CreateIndex(index))}; "
                "(CREATE INDEX CONCURRENTLY on a busy server does not block writes)",
            )
        )
    return problems


_KINDS = {
    sa.PrimaryKeyConstraint: "primary key",
    sa.ForeignKeyConstraint: "foreign key",
    sa.UniqueConstraint: "unique constraint",
    sa.CheckConstraint: "check constraint",
}


def _constraint_drift(table: sa.Table, catalog: Catalog) -> list[Problem]:
    problems = []
    for constraint in sorted(table.constraints, key=lambda c: str(c.name)):
        kind = _KINDS.get(type(constraint))
        name = _name(constraint)
        if kind is None or name is None or (table.name, name) in catalog.constraints:
            continue
        problems.append(
            Problem(
                "schema",
                f"{kind} {name} missing on {table.name}",
                f"recreate it in psql: {_ddl(sa.schema.AddConstraint(constraint))}; "
                "(fix rows that violate it first)",
            )
        )
    return problems


def _trigger_drift(table: sa.Table, catalog: Catalog) -> list[Problem]:
    """The triggers a table's `info` names, as {name: (DDL, the SQL that redoes what the
    trigger would have done while it was missing)}."""
    triggers: dict[str, tuple[str, str]] = table.info.get("triggers", {})
    return [
        Problem(
            "schema",
            f"trigger {name} missing on {table.name}",
            f"recreate it in psql: {' '.join(ddl.split())} {' '.join(refill.split())};",
        )
        for name, (ddl, refill) in sorted(triggers.items())
        if (table.name, name) not in catalog.triggers
    ]
