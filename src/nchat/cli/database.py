"""`nchat db doctor|backup|restore|schema-report|stats|maintain`.

Plain `typer.echo` output, not Rich: operators paste it into tickets and upgrade notes, and it
must not wrap or lose `[...]` to markup. `stats` and `maintain` are live views, with Rich
tables and progress (and `stats --json` for anything that parses them).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.filesize import decimal
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from nchat.cli.common import console, database_url, open_database, operator_errors
from nchat.config import Settings
from nchat.db import backup as dumps
from nchat.db import maintain as upkeep
from nchat.db.doctor import DoctorReport, Problem, diagnose
from nchat.db.embedded import EmbeddedError
from nchat.db.schema_report import (
    COMPONENTS,
    DatabaseUnreachable,
    SchemaReport,
    change_details,
    compare,
    comparison_table,
    markdown,
    schema_report,
)
from nchat.db.stats import DatabaseStats, Statements, collect
from nchat.storage import S3Error, make_storage

UNREACHABLE_HINT = (
    "check NCHAT_DATABASE_URL and that the server is running; unset it to use the embedded "
    "server in the data dir"
)


class DumpFormat(enum.StrEnum):
    plain = "plain"
    custom = "custom"


_FORMATS: dict[DumpFormat, dumps.Format] = {DumpFormat.plain: "plain", DumpFormat.custom: "custom"}


def register(db_app: typer.Typer) -> None:
    """Attach the database tooling commands to the `db` group."""
    db_app.command()(doctor)
    db_app.command()(backup)
    db_app.command()(restore)
    db_app.command("schema-report")(schema_report_command)
    db_app.command("stats")(stats_command)
    db_app.command("maintain")(maintain_command)


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.secho(message, err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@contextmanager
def _reported_failures() -> Iterator[None]:
    """Expected failures become one message and exit code 1, not a traceback."""
    try:
        yield
    except DatabaseUnreachable as exc:
        raise _fail(f"{exc}\n{UNREACHABLE_HINT}") from exc
    except (dumps.BackupError, EmbeddedError) as exc:
        raise _fail(str(exc)) from exc


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Check the database's health; exit code 1 when anything needs attention.

    Checks the connection, pending migrations, schema drift against the models and
    connection headroom; reports server version, row counts, size and connections. Warns
    (without failing) when pg_stat_statements is not available, and says how to enable it.
    """
    settings = Settings()
    try:
        with open_database(settings) as (url, embedded):
            report = diagnose(url, embedded=embedded is not None)
    except EmbeddedError as exc:
        report = DoctorReport(url="(embedded)")
        report.add(
            "connection",
            "embedded server did not start",
            [Problem("connection", str(exc), "see pg.log in the data dir (NCHAT_DATA_DIR)")],
        )
    _check_storage(report, settings)
    if as_json:
        _echo_json(report.to_dict())
    else:
        _print_doctor(report)
    if not report.ok:
        raise typer.Exit(1)


def _check_storage(report: DoctorReport, settings: Settings) -> None:
    """The file store the settings name answers, with the credentials given."""
    if settings.storage_backend == "local":
        root = settings.files_dir
        if not root.exists():
            report.add("storage", f"local: {root} (made at the first start)")
        elif not os.access(root, os.W_OK | os.X_OK):
            hint = "give the user nchat runs as write access, or set NCHAT_STORAGE_DIR"
            report.add("storage", "local: not writable", [Problem("storage", f"{root}", hint)])
        else:
            report.add("storage", f"local: {root}")
        return

    async def probe() -> None:
        storage = make_storage(settings)
        await storage.start()
        await storage.stop()

    try:
        asyncio.run(probe())
    except S3Error as exc:
        hint = "check NCHAT_S3_ENDPOINT_URL, NCHAT_S3_BUCKET and the access keys"
        report.add("storage", "s3: unusable", [Problem("storage", str(exc), hint)])
        return
    report.add("storage", f"s3: bucket {settings.s3_bucket} answers")


_MARKS = {
    "ok": typer.style("[ok]  ", fg=typer.colors.GREEN),
    "fail": typer.style("[FAIL]", fg=typer.colors.RED, bold=True),
    "skipped": typer.style("[skip]", fg=typer.colors.YELLOW),
    "warn": typer.style("[warn]", fg=typer.colors.YELLOW),
}


def _print_doctor(report: DoctorReport) -> None:
    typer.echo(f"nchat db doctor: {report.url}")
    width = max(len(c.name) for c in report.checks)
    for check in report.checks:
        mark = _MARKS[check.status]
        typer.echo(f"  {mark} {check.name.ljust(width)}  {check.detail}")
        if check.hint:
            typer.echo(f"  {' ' * 6} {' ' * width}  to enable: {check.hint}")
    if report.row_counts:
        typer.echo("\nRow counts:")
        name_width = max(len(n) for n in report.row_counts)
        for name, count in report.row_counts.items():
            typer.echo(f"  {name.ljust(name_width)}  {count:>10}")
    if report.ok:
        typer.echo("\nNo problems found.")
        return
    n = len(report.problems)
    typer.echo(f"\n{n} problem{'s' if n != 1 else ''}:")
    for i, problem in enumerate(report.problems, 1):
        typer.echo(f"  {i}. {problem.message}")
        typer.echo(f"     fix: {problem.hint}")


def backup(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            dir_okay=False,
            help="File to write (default: nchat-backup-YYYYmmdd-HHMMSS.sql|.dump[.gz])",
        ),
    ] = None,
    fmt: Annotated[
        DumpFormat,
        typer.Option("--format", help="plain SQL (psql) or pg_dump's custom archive"),
    ] = DumpFormat.plain,
    gzipped: Annotated[bool, typer.Option("--gzip", help="gzip the output")] = False,
) -> None:
    """Back up the database with pg_dump.

    Without owners or grants, so the dump restores into any database and role.
    """
    with _reported_failures(), database_url() as url:
        result = dumps.backup(url, output, fmt=_FORMATS[fmt], gzipped=gzipped)
    kind = dumps.DumpFile(format=result.format, gzip=result.gzip).label
    typer.echo(f"Backup written to {result.path} ({kind}, {result.size_bytes} bytes)")
    typer.echo(f"Restore it with: nchat db restore {result.path}")


def restore(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="A backup file"),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Restore into a non-empty database, dropping its contents"),
    ] = False,
) -> None:
    """Restore a backup into the configured database (empty, unless --force).

    The format (plain SQL, custom archive, gzipped or not) is read from the file. The restore
    is one transaction: if it fails, nothing changes, not even with --force.
    """
    with _reported_failures(), database_url() as url:
        dump = dumps.detect_format(file)
        database, _, relations = dumps.restore_target(url)
        if relations and not force:
            raise _fail(
                f"Refusing to restore: {dumps.DatabaseNotEmpty(database, relations)}.\n"
                "Restore into an empty database, or pass --force to drop everything in its "
                "schema public first."
            )
        if not yes:
            _confirm(file, dump, database, wipe=bool(relations))
        result = dumps.restore(url, file, force=force)
    typer.echo(f"Restored {file} ({result.dump.label}) into database {result.database}")
    if result.row_counts:
        typer.echo(
            markdown([("Table", "rows"), *((t, str(n)) for t, n in result.row_counts.items())])
        )


def _confirm(file: Path, dump: dumps.DumpFile, database: str, *, wipe: bool) -> None:
    if not sys.stdin.isatty():
        raise _fail(
            "Refusing to restore without confirmation (stdin is not a terminal): pass --yes", code=2
        )
    question = f"Restore {file} ({dump.label}) into database {database}"
    if wipe:
        question += ", dropping everything now in its schema public"
    if not typer.confirm(question + "?"):
        raise _fail("Aborted; nothing changed.")


def schema_report_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
    before: Annotated[
        Path | None,
        typer.Option(
            "--compare",
            exists=True,
            dir_okay=False,
            readable=True,
            help="A report saved with --json before an upgrade: print what changed since",
        ),
    ] = None,
) -> None:
    """Count the schema's tables, columns, indexes, constraints, functions, triggers, views.

    Covers schema public, extension members excluded. Save the `--json` output before an
    upgrade and pass it to `--compare` after it for a Markdown table of the changes.
    """
    earlier = None
    if before is not None:
        try:
            earlier = SchemaReport.from_dict(json.loads(before.read_text()))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            raise _fail(f"{before}: {exc}", code=2) from exc
    with _reported_failures(), database_url() as url:
        report = schema_report(url)
    if earlier is None:
        _print_report(report, as_json)
        return
    changes = compare(earlier, report)
    if as_json:
        _echo_json(
            {
                "before": earlier.to_dict(),
                "after": report.to_dict(),
                "changes": [
                    {
                        "component": c.component,
                        "before": c.before,
                        "after": c.after,
                        "changes": c.changes,
                        "added": c.added,
                        "removed": c.removed,
                    }
                    for c in changes
                ],
            }
        )
        return
    typer.echo(
        f"Schema of database {report.database}: before revision {earlier.revision or '(none)'}"
        f" ({earlier.generated_at or 'unknown time'}), after revision "
        f"{report.revision or '(none)'} ({report.generated_at})\n"
    )
    typer.echo(comparison_table(changes))
    details = change_details(changes)
    if details:
        typer.echo("")
        for line in details:
            typer.echo(line)


def _print_report(report: SchemaReport, as_json: bool) -> None:
    if as_json:
        _echo_json(report.to_dict())
        return
    typer.echo(
        f"Schema of database {report.database} (PostgreSQL {report.server_version}), revision "
        f"{report.revision or '(none)'}; scope: schema public, excluding extension members\n"
    )
    typer.echo(
        markdown([("Component", "count"), *((c, str(report.counts[c])) for c in COMPONENTS)])
    )


def stats_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document")] = False,
) -> None:
    """Show the database's size, largest tables, connections, index usage, bloat and slowest
    statements.

    Tables: the ten largest user tables (nchat's and the job queue's) with heap, index and
    TOAST sizes. Index usage flags tables read mostly by sequential scans that have many
    rows. Bloat is estimated from pg_stat_user_tables as n_dead_tup / (n_live_tup +
    n_dead_tup), the share of dead row versions (no page scan). Statements come from
    pg_stat_statements (ten, by total execution time) when the server loads it; otherwise
    the output says how to enable it.
    """
    with _reported_failures(), operator_errors(), open_database(Settings()) as (url, embedded):
        stats = collect(url, embedded=embedded is not None)
    if as_json:
        _echo_json(stats.to_dict())
        return
    _print_stats(stats)


# Piped into a file or a ticket, the report is not cut to 80 columns.
PIPED_WIDTH = 140


def _report_table(title: str, names: list[str], *columns: str, caption: str = "") -> Table:
    """A table whose first column, the table names, is never cut short, and whose numbers
    wrap rather than lose digits."""
    table = Table(title=title, caption=caption, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("table", no_wrap=True, min_width=max(map(len, names), default=5))
    for column in columns:
        # Headers wrap between words, never inside one.
        table.add_column(
            column,
            justify="right",
            overflow="fold",
            min_width=max(len(word) for word in column.split()),
        )
    return table


def _relation(schema: str, name: str) -> Text:
    return Text(name if schema == "public" else f"{schema}.{name}")


def _print_stats(stats: DatabaseStats) -> None:
    out = console if console.is_terminal else Console(width=PIPED_WIDTH)
    out.print(
        Text(f"Database {stats.database} (PostgreSQL {stats.server_version}): {stats.size}\n")
    )
    names = [t.name for t in stats.tables]
    sizes = _report_table("Largest tables", names, "rows", "total", "heap", "indexes", "toast")
    for t in stats.tables:
        sizes.add_row(
            _relation(t.schema, t.name),
            str(t.rows),
            *map(decimal, (t.total_bytes, t.table_bytes, t.index_bytes, t.toast_bytes)),
        )
    out.print(sizes)

    c = stats.connections
    states = ", ".join(f"{state} {n}" for state, n in c.by_state.items())
    oldest = c.oldest_transaction_seconds
    out.print(
        Text(
            f"Connections: {c.total} to this database ({states}), max_connections "
            f"{c.max_connections}"
            + ("" if oldest is None else f"; oldest open transaction {oldest:.1f} s")
            + "\n"
        )
    )

    scanned = [u for u in stats.index_usage if u.seq_scan or u.idx_scan]
    usage = _report_table(
        "Index usage (tables scanned since the statistics were reset)",
        [u.name for u in scanned],
        "rows",
        "seq scans",
        "seq rows read",
        "idx scans",
        "idx %",
        caption="* many sequential scans of many rows: a query may lack an index",
    )
    for u in scanned:
        usage.add_row(
            _relation(u.schema, u.name),
            str(u.rows),
            f"{u.seq_scan}{' *' if u.seq_scan_heavy else ''}",
            str(u.seq_tup_read),
            str(u.idx_scan),
            "-" if u.idx_scan_ratio is None else f"{u.idx_scan_ratio:.0%}",
        )
    out.print(usage)

    with_dead = [b for b in stats.bloat if b.dead_tuples]
    dead = _report_table(
        "Dead rows (bloat estimate: dead / (live + dead), from pg_stat_user_tables)",
        [b.name for b in with_dead],
        "live",
        "dead",
        "dead %",
        "last vacuum",
        "last analyze",
        caption="* worth a vacuum (of nchat's tables: `nchat db maintain --vacuum TABLE`)",
    )
    for b in with_dead:
        vacuumed = max(filter(None, (b.last_vacuum, b.last_autovacuum)), default=None)
        analyzed = max(filter(None, (b.last_analyze, b.last_autoanalyze)), default=None)
        dead.add_row(
            _relation(b.schema, b.name),
            str(b.live_tuples),
            str(b.dead_tuples),
            f"{b.dead_ratio:.0%}{' *' if b.needs_vacuum else ''}",
            _when(vacuumed),
            _when(analyzed),
        )
    out.print(dead)
    out.print()
    _print_statements(out, stats.statements)


def _when(moment: dt.datetime | None) -> str:
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def _print_statements(out: Console, found: Statements) -> None:
    if not found.available:
        out.print(Text(f"pg_stat_statements: not available ({found.status.replace('_', ' ')})"))
        out.print(Text(f"To enable it: {found.hint}"), soft_wrap=True)
        return
    slow = Table(
        title=f"Slowest statements (pg_stat_statements in database {found.database}, by "
        "total execution time)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for column in ("calls", "total ms", "mean ms", "rows"):
        slow.add_column(column, justify="right", overflow="fold")
    slow.add_column("query", overflow="fold")
    for q in found.queries:
        slow.add_row(
            str(q.calls),
            f"{q.total_exec_time_ms:.1f}",
            f"{q.mean_exec_time_ms:.2f}",
            str(q.rows),
            Text(q.query),
        )
    out.print(slow)


_VERBS: dict[upkeep.Action, str] = {
    "analyze": "Analyzed",
    "vacuum": "Vacuumed",
    "reindex": "Reindexed",
}


def maintain_command(
    table: Annotated[
        str | None, typer.Argument(help="One nchat table (default: every nchat_* table)")
    ] = None,
    analyze: Annotated[
        bool, typer.Option("--analyze", help="ANALYZE: refresh planner statistics")
    ] = False,
    vacuum: Annotated[
        bool, typer.Option("--vacuum", help="VACUUM (ANALYZE): reclaim dead rows")
    ] = False,
    reindex: Annotated[
        bool, typer.Option("--reindex", help="REINDEX TABLE CONCURRENTLY: rebuild bloated indexes")
    ] = False,
) -> None:
    """ANALYZE, VACUUM or REINDEX nchat's tables, safe on a live database.

    Plain VACUUM (never FULL) and REINDEX CONCURRENTLY: writes go on meanwhile. One table at
    a time, each in its own statement; exit code 2 for a table that is not nchat's.
    """
    flags: dict[upkeep.Action, bool] = {"analyze": analyze, "vacuum": vacuum, "reindex": reindex}
    chosen = [a for a, on in flags.items() if on]
    if len(chosen) != 1:
        raise _fail("Error: pass exactly one of --analyze, --vacuum, --reindex.", code=2)
    [action] = chosen
    with _reported_failures(), operator_errors(), open_database(Settings()) as (url, _):
        try:
            tables = upkeep.targets(url, table)
        except upkeep.UnknownTable as exc:
            raise _fail(f"Error: {exc}", code=2) from exc
        done = _maintain_with_progress(url, action, tables)
    invalid = [(d.table, name) for d in done for name in d.invalid_indexes]
    total = sum(d.seconds for d in done)
    console.print(Text(f"{_VERBS[action]} {len(done)} table(s) in {total:.1f} s"))
    for table_name, index in invalid:
        console.print(
            Text(
                f"invalid index {index} on {table_name} (left by an interrupted concurrent "
                f"build): DROP INDEX CONCURRENTLY {index}; then run again"
            ),
            soft_wrap=True,
        )
    if invalid:
        raise typer.Exit(1)


def _maintain_with_progress(
    url: str, action: upkeep.Action, tables: list[str]
) -> list[upkeep.TableDone]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(action, total=len(tables))

        def started(name: str) -> None:
            progress.update(task, description=f"{action} {name}")

        def finished(result: upkeep.TableDone) -> None:
            progress.console.print(
                Text(f"{_VERBS[action]} {result.table} ({result.seconds:.2f} s)")
            )
            progress.advance(task)

        return upkeep.maintain(url, action, tables, on_start=started, on_done=finished)
