"""`nchat db doctor|backup|restore|schema-report`.

Plain `typer.echo` output, not Rich: operators paste it into tickets and upgrade notes, and it
must not wrap or lose `[...]` to markup.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from nchat.cli.common import database_url
from nchat.config import Settings
from nchat.db import backup as dumps
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
    connection headroom; reports server version, row counts, size and connections.
    """
    try:
        with database_url() as url:
            report = diagnose(url)
    except EmbeddedError as exc:
        report = DoctorReport(url="(embedded)")
        report.add(
            "connection",
            "embedded server did not start",
            [Problem("connection", str(exc), "see pg.log in the data dir (NCHAT_DATA_DIR)")],
        )
    _check_storage(report, Settings())
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
}


def _print_doctor(report: DoctorReport) -> None:
    typer.echo(f"nchat db doctor: {report.url}")
    width = max(len(c.name) for c in report.checks)
    for check in report.checks:
        mark = _MARKS[check.status]
        typer.echo(f"  {mark} {check.name.ljust(width)}  {check.detail}")
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
