"""`nchat db maintain`: ANALYZE, VACUUM or REINDEX nchat's tables on a live database.

Only forms that let writes go on: plain VACUUM (never FULL, which rewrites the table under an
exclusive lock), ANALYZE, and REINDEX ... CONCURRENTLY; all three hold at most a SHARE UPDATE
EXCLUSIVE lock on the table, which conflicts with no read or write, only with another
maintenance command. One table per statement, on an autocommit connection: VACUUM and
REINDEX CONCURRENTLY cannot run inside a transaction block, and a table done stays done if a
later one fails.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from nchat.db.schema_report import run_on_database

Action = Literal["analyze", "vacuum", "reindex"]

_STATEMENTS: dict[Action, str] = {
    "analyze": "ANALYZE {table}",
    "vacuum": "VACUUM (ANALYZE) {table}",
    "reindex": "REINDEX TABLE CONCURRENTLY {table}",
}

_NCHAT_TABLES = sa.text(
    r"""
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname LIKE 'nchat\_%'
    ORDER BY c.relname
    """
)

# An interrupted REINDEX CONCURRENTLY (or CREATE INDEX CONCURRENTLY) leaves an invalid index
# behind: it costs writes and serves no reads until dropped.
_INVALID_INDEXES = sa.text(
    """
    SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = CAST(:table AS regclass) AND NOT i.indisvalid
    ORDER BY c.relname
    """
)


class UnknownTable(ValueError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        close = difflib.get_close_matches(name, known, n=1)
        suggestion = f"; did you mean {close[0]}?" if close else ""
        super().__init__(
            f"{name} is not one of nchat's tables (nchat_* in schema public){suggestion}"
        )
        self.name = name


@dataclass(frozen=True)
class TableDone:
    table: str
    seconds: float
    invalid_indexes: list[str]


def nchat_tables(conn: Connection) -> list[str]:
    return list(conn.execute(_NCHAT_TABLES).scalars())


def targets(url: str, table: str | None = None) -> list[str]:
    """The tables to work on: every nchat table, or the one named (UnknownTable if it is not
    one of them)."""
    known = run_on_database(url, nchat_tables)
    if table is None:
        return known
    if table not in known:
        raise UnknownTable(table, known)
    return [table]


def maintain(
    url: str,
    action: Action,
    tables: Sequence[str],
    *,
    on_start: Callable[[str], None] = lambda table: None,
    on_done: Callable[[TableDone], None] = lambda done: None,
) -> list[TableDone]:
    """Run `action` on each table in turn; the callbacks report progress."""

    def run(conn: Connection) -> list[TableDone]:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        # A role's statement_timeout is meant for the app's queries, not for maintenance.
        conn.execute(sa.text("SET statement_timeout = 0"))
        quote = conn.dialect.identifier_preparer.quote
        done = []
        for table in tables:
            on_start(table)
            began = time.monotonic()
            name = f"public.{quote(table)}"
            conn.execute(sa.text(_STATEMENTS[action].format(table=name)))
            seconds = round(time.monotonic() - began, 3)
            invalid = conn.execute(_INVALID_INDEXES, {"table": name}).scalars()
            result = TableDone(table=table, seconds=seconds, invalid_indexes=list(invalid))
            on_done(result)
            done.append(result)
        return done

    return run_on_database(url, run)
