"""`nchat db stats`: where the database's space, connections and time go.

Everything comes from PostgreSQL's own statistics views, read in one short read-only
transaction: sizes (`pg_total_relation_size` and friends), `pg_stat_activity`,
`pg_stat_user_tables` and, when the server has it, `pg_stat_statements` (PostgreSQL 13+
column names). The extension is looked for in nchat's database and then in the maintenance
database `postgres`, where the embedded server keeps it (see `embedded.py` for why); its view
covers every database of the server, so statements are filtered to nchat's.

The bloat figure is an estimate from the statistics collector, not a page scan: the share of
dead row versions, n_dead_tup / (n_live_tup + n_dead_tup), per table. It is what autovacuum
itself acts on, costs nothing to read, and is exact enough to say which table needs a vacuum.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from nchat.db.embedded import STATEMENTS
from nchat.db.schema_report import DatabaseUnreachable, run_on_database

LARGEST_TABLES = 10
SLOWEST_STATEMENTS = 10
QUERY_TEXT_CHARS = 200
# A table is read mostly by sequential scans that matter: more of them than index scans,
# at least this many, on a table with at least this many rows.
SEQ_SCAN_MIN = 50
SEQ_SCAN_ROWS = 10_000
# Autovacuum's own trigger with default settings: 20 % dead row versions plus 50.
DEAD_RATIO_WARN = 0.2
DEAD_ROWS_MIN = 1_000
MAINTENANCE_DATABASE = "postgres"
BLOAT_METHOD = (
    "n_dead_tup / (n_live_tup + n_dead_tup) from pg_stat_user_tables: the share of dead "
    "row versions, an estimate that autovacuum itself acts on"
)
NOT_LOADED_SQLSTATE = "55000"  # "must be loaded via shared_preload_libraries"

StatementsStatus = Literal["available", "not_installed", "not_loaded", "not_created"]
# Statuses that another database of the server may know better: it may have the extension,
# and read the setting that this role could not.
_LOOK_ELSEWHERE = ("not_created", "not_loaded")


@dataclass(frozen=True)
class TableSize:
    schema: str
    name: str
    rows: int  # the planner's estimate (n_live_tup), not count(*)
    total_bytes: int
    table_bytes: int  # heap with its free space and visibility maps
    index_bytes: int
    toast_bytes: int  # out-of-line values with their index


@dataclass(frozen=True)
class Connections:
    total: int
    max_connections: int
    by_state: dict[str, int]
    oldest_transaction_seconds: float | None


@dataclass(frozen=True)
class IndexUsage:
    schema: str
    name: str
    rows: int
    seq_scan: int
    seq_tup_read: int
    idx_scan: int
    idx_scan_ratio: float | None  # idx_scan / (idx_scan + seq_scan); None before any scan
    seq_scan_heavy: bool


@dataclass(frozen=True)
class TableBloat:
    schema: str
    name: str
    live_tuples: int
    dead_tuples: int
    dead_ratio: float
    needs_vacuum: bool
    last_vacuum: dt.datetime | None
    last_autovacuum: dt.datetime | None
    last_analyze: dt.datetime | None
    last_autoanalyze: dt.datetime | None


@dataclass(frozen=True)
class Statement:
    queryid: int | None
    calls: int
    total_exec_time_ms: float
    mean_exec_time_ms: float
    rows: int
    query: str


@dataclass
class Statements:
    status: StatementsStatus
    hint: str | None = None
    database: str | None = None  # where the extension was found
    queries: list[Statement] = field(default_factory=list)

    @property
    def available(self) -> bool:
        return self.status == "available"


@dataclass(frozen=True)
class DatabaseStats:
    database: str
    server_version: str
    size_bytes: int
    size: str
    tables: list[TableSize]
    connections: Connections
    index_usage: list[IndexUsage]
    bloat: list[TableBloat]
    statements: Statements

    def to_dict(self) -> dict[str, Any]:
        """The `--json` document; its keys are documented in the README."""
        return {
            "database": {
                "name": self.database,
                "server_version": self.server_version,
                "size_bytes": self.size_bytes,
                "size": self.size,
            },
            "tables": [asdict(t) for t in self.tables],
            "connections": asdict(self.connections),
            "index_usage": [asdict(u) for u in self.index_usage],
            "bloat": {"method": BLOAT_METHOD, "tables": [_iso(asdict(b)) for b in self.bloat]},
            "statements": statements_dict(self.statements),
        }


def statements_dict(statements: Statements) -> dict[str, Any]:
    return {
        "available": statements.available,
        "status": statements.status,
        "hint": statements.hint,
        "database": statements.database,
        "queries": [asdict(q) for q in statements.queries],
    }


def _iso(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in row.items()}


def collect(url: str, *, embedded: bool = False) -> DatabaseStats:
    """Read every section; raises DatabaseUnreachable when the server cannot be reached."""
    stats = run_on_database(url, _collect)
    found = None
    if stats.statements.status in _LOOK_ELSEWHERE:
        # Not here; perhaps in the maintenance database (always so on the embedded server).
        found = _statements_elsewhere(url, stats.database)
    statements = _hinted(found or stats.statements, stats.database, embedded=embedded)
    return replace(stats, statements=statements)


def statements_status(url: str, *, embedded: bool = False) -> Statements:
    """Only whether pg_stat_statements can be read (for `nchat db doctor`), with a hint."""
    database, here = run_on_database(url, lambda conn: _statements_here(conn, limit=1))
    found = None
    if here.status in _LOOK_ELSEWHERE:
        found = _statements_elsewhere(url, database, limit=1)
    return replace(_hinted(found or here, database, embedded=embedded), queries=[])


def _collect(conn: Connection) -> DatabaseStats:
    info = conn.execute(
        sa.text(
            "SELECT current_database() AS db, current_setting('server_version') AS version, "
            "pg_database_size(current_database()) AS size_bytes, "
            "pg_size_pretty(pg_database_size(current_database())) AS size"
        )
    ).one()
    return DatabaseStats(
        database=info.db,
        server_version=info.version,
        size_bytes=int(info.size_bytes),
        size=info.size,
        tables=largest_tables(conn),
        connections=connections(conn),
        index_usage=index_usage(conn),
        bloat=bloat(conn),
        statements=_read_statements(conn, info.db, SLOWEST_STATEMENTS),
    )


_SIZES = sa.text(
    """
    SELECT schemaname, relname, n_live_tup, total, indexes, toast
    FROM (
        SELECT s.schemaname, s.relname, s.n_live_tup,
               pg_total_relation_size(s.relid) AS total,
               pg_indexes_size(s.relid) AS indexes,
               coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0) AS toast
        FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
    ) sizes
    ORDER BY total DESC, schemaname, relname
    LIMIT :limit
    """
)


def largest_tables(conn: Connection, limit: int = LARGEST_TABLES) -> list[TableSize]:
    """The largest user tables (nchat's, the job queue's, anything else in the database)."""
    return [
        TableSize(
            schema=r.schemaname,
            name=r.relname,
            rows=int(r.n_live_tup),
            total_bytes=int(r.total),
            table_bytes=int(r.total - r.indexes - r.toast),
            index_bytes=int(r.indexes),
            toast_bytes=int(r.toast),
        )
        for r in conn.execute(_SIZES, {"limit": limit})
    ]


def connections(conn: Connection) -> Connections:
    """This database's sessions by state. Another role's sessions show state `unknown` to a
    role without pg_read_all_stats."""
    by_state = {
        str(state): int(n)
        for state, n in conn.execute(
            sa.text(
                "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() GROUP BY 1 ORDER BY 2 DESC, 1"
            )
        )
    }
    oldest, limit = conn.execute(
        sa.text(
            "SELECT extract(epoch FROM now() - min(xact_start))::float8, "
            "current_setting('max_connections')::int "
            "FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    ).one()
    return Connections(
        total=sum(by_state.values()),
        max_connections=int(limit),
        by_state=by_state,
        oldest_transaction_seconds=None if oldest is None else round(float(oldest), 3),
    )


def index_usage(conn: Connection) -> list[IndexUsage]:
    """Every user table, most rows read by sequential scans first."""
    rows = conn.execute(
        sa.text(
            "SELECT schemaname, relname, n_live_tup, seq_scan, seq_tup_read, "
            "coalesce(idx_scan, 0) AS idx_scan FROM pg_stat_user_tables "
            "ORDER BY seq_tup_read DESC, schemaname, relname"
        )
    )
    usage = []
    for r in rows:
        scans = r.seq_scan + r.idx_scan
        usage.append(
            IndexUsage(
                schema=r.schemaname,
                name=r.relname,
                rows=int(r.n_live_tup),
                seq_scan=int(r.seq_scan),
                seq_tup_read=int(r.seq_tup_read),
                idx_scan=int(r.idx_scan),
                idx_scan_ratio=round(r.idx_scan / scans, 4) if scans else None,
                seq_scan_heavy=r.seq_scan >= SEQ_SCAN_MIN
                and r.seq_scan > r.idx_scan
                and r.n_live_tup >= SEQ_SCAN_ROWS,
            )
        )
    return usage


def bloat(conn: Connection) -> list[TableBloat]:
    """Every user table, most dead row versions first."""
    rows = conn.execute(
        sa.text(
            "SELECT schemaname, relname, n_live_tup, n_dead_tup, last_vacuum, "
            "last_autovacuum, last_analyze, last_autoanalyze FROM pg_stat_user_tables "
            "ORDER BY n_dead_tup DESC, schemaname, relname"
        )
    )
    found = []
    for r in rows:
        versions = r.n_live_tup + r.n_dead_tup
        ratio = round(r.n_dead_tup / versions, 4) if versions else 0.0
        found.append(
            TableBloat(
                schema=r.schemaname,
                name=r.relname,
                live_tuples=int(r.n_live_tup),
                dead_tuples=int(r.n_dead_tup),
                dead_ratio=ratio,
                needs_vacuum=ratio >= DEAD_RATIO_WARN and r.n_dead_tup >= DEAD_ROWS_MIN,
                last_vacuum=r.last_vacuum,
                last_autovacuum=r.last_autovacuum,
                last_analyze=r.last_analyze,
                last_autoanalyze=r.last_autoanalyze,
            )
        )
    return found


# -- pg_stat_statements ---------------------------------------------------------------


def _statements_here(
    conn: Connection, *, limit: int = SLOWEST_STATEMENTS
) -> tuple[str, Statements]:
    """(this database's name, pg_stat_statements as seen from it)."""
    database = str(conn.execute(sa.text("SELECT current_database()")).scalar_one())
    return database, _read_statements(conn, database, limit)


def _read_statements(conn: Connection, database: str, limit: int) -> Statements:
    schema = conn.execute(
        sa.text(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = :name"
        ),
        {"name": STATEMENTS},
    ).scalar_one_or_none()
    if schema is None:
        return Statements(status=_why_missing(conn))
    view = f"{conn.dialect.identifier_preparer.quote(schema)}.{STATEMENTS}"
    query = sa.text(
        f"""
        SELECT queryid, calls, total_exec_time, mean_exec_time, rows,
               left(regexp_replace(query, '\\s+', ' ', 'g'), :chars) AS query
        FROM {view}
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = :database)
        ORDER BY total_exec_time DESC
        LIMIT :limit
        """
    )
    try:
        # A savepoint: a refused read must not end the rest of the report's transaction.
        with conn.begin_nested():
            rows = conn.execute(
                query, {"chars": QUERY_TEXT_CHARS, "database": database, "limit": limit}
            ).all()
    except sa.exc.DBAPIError as exc:
        if _sqlstate(exc) == NOT_LOADED_SQLSTATE:
            return Statements(status="not_loaded")
        raise
    return Statements(
        status="available",
        database=str(conn.execute(sa.text("SELECT current_database()")).scalar_one()),
        queries=[
            Statement(
                queryid=None if r.queryid is None else int(r.queryid),
                calls=int(r.calls),
                total_exec_time_ms=round(float(r.total_exec_time), 3),
                mean_exec_time_ms=round(float(r.mean_exec_time), 3),
                rows=int(r.rows),
                query=str(r.query),
            )
            for r in rows
        ],
    )


def _why_missing(conn: Connection) -> StatementsStatus:
    installed = conn.execute(
        sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = :name"),
        {"name": STATEMENTS},
    ).scalar_one()
    if not installed:
        return "not_installed"
    # Hidden from roles without pg_read_all_settings: then the hint names both steps.
    preload = conn.execute(
        sa.text("SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'")
    ).scalar_one_or_none()
    libraries = {part.strip().strip('"') for part in (preload or "").split(",")}
    return "not_created" if STATEMENTS in libraries else "not_loaded"


def _sqlstate(exc: sa.exc.DBAPIError) -> str | None:
    orig = exc.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return None if code is None else str(code)


def _statements_elsewhere(
    url: str, database: str, *, limit: int = SLOWEST_STATEMENTS
) -> Statements | None:
    """The extension as read from the maintenance database, or None when it is not there
    either (or that database cannot be reached: not every role may connect to it)."""
    if database == MAINTENANCE_DATABASE:
        return None
    other = make_url(url).set(database=MAINTENANCE_DATABASE).render_as_string(hide_password=False)
    try:
        found = run_on_database(other, lambda conn: _read_statements(conn, database, limit))
    except (DatabaseUnreachable, sa.exc.DBAPIError):
        return None
    return found if found.status in ("available", "not_loaded") else None


def _hinted(found: Statements, database: str, *, embedded: bool) -> Statements:
    return replace(found, hint=_hint(found.status, database, embedded=embedded))


def _hint(status: StatementsStatus, database: str, *, embedded: bool) -> str | None:
    where = f"database {MAINTENANCE_DATABASE}"
    if database != MAINTENANCE_DATABASE:
        where += f" (or in {database})"
    create = f"as a superuser, run CREATE EXTENSION {STATEMENTS}; in {where}"
    preload = (
        f"add {STATEMENTS} to shared_preload_libraries in postgresql.conf (keep any libraries "
        "already listed) and restart the server"
    )
    if status == "available":
        return None
    if embedded and status == "not_loaded":
        return (
            "the embedded server was started without it (by an older nchat): stop every nchat "
            "process that uses this data dir; the next start loads it"
        )
    if embedded:
        return "restart nchat: the embedded server creates it at start when its build ships it"
    if status == "not_installed":
        return (
            f"install your PostgreSQL's contrib package (it ships {STATEMENTS}), {preload}, "
            f"then {create}"
        )
    if status == "not_created":
        return f"the server loads {STATEMENTS} already: {create}"
    return f"{preload}, then {create}"
