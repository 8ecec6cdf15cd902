"""`nchat serve` as a real process: external and embedded PostgreSQL, signals, a crashed
predecessor, two nodes starting at once. Every test is bounded in time and leaves nothing
running (the helpers kill the child and stop an embedded PostgreSQL it left behind)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest

from nchat import __version__
from nchat.db import migrate
from nchat.db.embedded import EmbeddedPostgres
from nchat.db.engine import libpq_url
from tests.fixtures.processes import (
    Server,
    embedded_data_dir,
    nchat_env,
    postgres_gone,
    postgres_processes,
    process_gone,
    run_nchat,
    serving,
    throwaway_database,
    wait_until,
)

PASSWORD = "correct horse battery"
SECRET = "shared-secret-of-the-cluster-long-enough-for-hs256"


@pytest.fixture
def fresh_url(server_url: str) -> Iterator[str]:
    with throwaway_database(server_url) as url:
        yield url


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data dir whose embedded PostgreSQL is stopped after the test, whatever happened."""
    with embedded_data_dir() as path:
        yield path


def owner(name: str = "owner") -> dict[str, Any]:
    return {
        "owner": {
            "email": f"{name}@example.com",
            "username": name,
            "password": PASSWORD,
            "display_name": name.title(),
        }
    }


def mirror(url: str) -> list[str]:
    async def query() -> list[str]:
        conn = await asyncpg.connect(libpq_url(url))
        try:
            rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
            return [r["version"] for r in rows]
        finally:
            await conn.close()

    return asyncio.run(query())


def versions() -> list[str]:
    return [r.version for r in migrate.history()]


def postmaster(pgdata: Path) -> psutil.Process:
    proc = psutil.Process(int((pgdata / "postmaster.pid").read_text().splitlines()[0]))
    assert proc.is_running() and proc.name().startswith("postgres")
    return proc


def assert_healthy(server: Server) -> None:
    assert server.wait_healthy() == {"status": "ok", "version": __version__, "database": "ok"}


def stop_gracefully(server: Server, signum: int = signal.SIGTERM) -> None:
    server.send(signum)
    assert server.wait_exit() == 0, server.output()
    assert "Traceback" not in server.output(), server.output()


# -- external PostgreSQL -------------------------------------------------------------------


def test_external_database_migrates_serves_and_sets_up_once(fresh_url: str, tmp_path: Path) -> None:
    env = nchat_env(tmp_path / "data", fresh_url)
    with serving(env, tmp_path / "serve.log") as server:
        assert_healthy(server)
        assert mirror(fresh_url) == versions()

        setup = httpx.post(f"{server.url}/api/setup", json=owner(), timeout=10)
        assert setup.status_code == 201, setup.text
        tokens = setup.json()
        assert tokens["access_token"] and tokens["refresh_token"]
        assert tokens["user"]["role"] == "owner"

        signin = httpx.post(
            f"{server.url}/api/auth/signin",
            json={"login": "owner", "password": PASSWORD},
            timeout=10,
        )
        assert signin.status_code == 200, signin.text
        me = httpx.get(
            f"{server.url}/api/users/me",
            headers={"Authorization": f"Bearer {signin.json()['access_token']}"},
            timeout=10,
        )
        assert me.status_code == 200 and me.json()["username"] == "owner"

        again = httpx.post(f"{server.url}/api/setup", json=owner("second"), timeout=10)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "setup_completed"

        stop_gracefully(server)
    key = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_no_migrate_serves_an_empty_database(fresh_url: str, tmp_path: Path) -> None:
    env = nchat_env(tmp_path / "data", fresh_url)
    with serving(env, tmp_path / "serve.log", args=("--no-migrate",)) as server:
        assert_healthy(server)
        status = run_nchat(["db", "migrate", "status"], env)
        assert status.returncode == 1, status.stdout + status.stderr
        assert all(v in status.stdout for v in versions())
        assert migrate.current(fresh_url) is None
        assert_healthy(server)  # still answering
        stop_gracefully(server)


def test_two_servers_started_together_share_one_migration(fresh_url: str, tmp_path: Path) -> None:
    env_a = nchat_env(tmp_path / "a", fresh_url, NCHAT_SECRET_KEY=SECRET)
    env_b = nchat_env(tmp_path / "b", fresh_url, NCHAT_SECRET_KEY=SECRET)
    with (
        serving(env_a, tmp_path / "a.log") as a,
        serving(env_b, tmp_path / "b.log") as b,
    ):
        assert_healthy(a)
        assert_healthy(b)
        assert mirror(fresh_url) == versions()

        setup = httpx.post(f"{a.url}/api/setup", json=owner(), timeout=10)
        assert setup.status_code == 201, setup.text
        headers = {"Authorization": f"Bearer {setup.json()['access_token']}"}
        assert httpx.get(f"{b.url}/api/users/me", headers=headers, timeout=10).status_code == 200
        assert httpx.post(f"{b.url}/api/setup", json=owner("bob"), timeout=10).status_code == 409

        for server in (a, b):
            stop_gracefully(server)


# -- embedded PostgreSQL -------------------------------------------------------------------


def test_embedded_serves_and_sigterm_stops_postgres(data_dir: Path) -> None:
    pgdata = data_dir / "pg"
    env = nchat_env(data_dir)
    with serving(env, data_dir.parent / "serve.log") as server:
        assert_healthy(server)
        assert (pgdata / "PG_VERSION").exists()
        assert postgres_processes(pgdata)
        assert (data_dir / "pg.owner").read_text().strip() == str(server.pid)
        key = data_dir / "secret_key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert len(key.read_text().strip()) >= 32
        setup = httpx.post(f"{server.url}/api/setup", json=owner(), timeout=10)
        assert setup.status_code == 201, setup.text

        stop_gracefully(server)
        assert postgres_gone(pgdata), postgres_processes(pgdata)
        assert not (data_dir / "pg.owner").exists()


def test_cli_beside_a_running_embedded_server_leaves_it_running(data_dir: Path) -> None:
    pgdata = data_dir / "pg"
    env = nchat_env(data_dir)
    with serving(env, data_dir.parent / "serve.log") as server:
        assert_healthy(server)
        before = postmaster(pgdata)

        status = run_nchat(["db", "migrate", "status"], env)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "No pending migrations" in status.stdout

        assert postmaster(pgdata) == before  # attached, did not stop or restart it
        assert (data_dir / "pg.owner").read_text().strip() == str(server.pid)
        assert_healthy(server)

        stop_gracefully(server)
        assert postgres_gone(pgdata), postgres_processes(pgdata)


def test_embedded_postgres_left_by_a_killed_server_is_adopted(data_dir: Path) -> None:
    pgdata = data_dir / "pg"
    env = nchat_env(data_dir)
    log = data_dir.parent / "serve.log"
    with serving(env, log) as first:
        assert_healthy(first)
        assert httpx.post(f"{first.url}/api/setup", json=owner(), timeout=10).status_code == 201
        orphan = postmaster(pgdata)
        first.kill()  # SIGKILL: no chance to stop PostgreSQL
    assert orphan.is_running(), "PostgreSQL should outlive a SIGKILLed nchat"

    with serving(env, data_dir.parent / "serve2.log") as second:
        assert_healthy(second)
        assert postmaster(pgdata) == orphan  # adopted, not a second server
        assert (data_dir / "pg.owner").read_text().strip() == str(second.pid)
        # Same cluster, same data: the owner made before the crash is still there.
        again = httpx.post(f"{second.url}/api/setup", json=owner("late"), timeout=10)
        assert again.status_code == 409
        signin = httpx.post(
            f"{second.url}/api/auth/signin",
            json={"login": "owner", "password": PASSWORD},
            timeout=10,
        )
        assert signin.status_code == 200, signin.text

        stop_gracefully(second)
        assert process_gone(orphan)
        assert postgres_gone(pgdata), postgres_processes(pgdata)


def test_stop_works_after_a_parent_dir_was_tightened(data_dir: Path) -> None:
    """As root PostgreSQL runs as another user: when a parent of the data dir loses its
    o+x while serving (pytest does that to its temp root), stopping must still work."""
    pgdata = data_dir / "pg"
    env = nchat_env(data_dir)
    with serving(env, data_dir.parent / "serve.log") as server:
        assert_healthy(server)
        data_dir.parent.chmod(0o700)
        assert_healthy(server)
        stop_gracefully(server)
        assert postgres_gone(pgdata), postgres_processes(pgdata)


def test_ctrl_c_stops_nchat_and_postgres(data_dir: Path) -> None:
    """SIGINT to the whole foreground process group, as a terminal sends it."""
    pgdata = data_dir / "pg"
    env = nchat_env(data_dir)
    with serving(env, data_dir.parent / "serve.log", new_session=True) as server:
        assert_healthy(server)
        os.killpg(os.getpgid(server.pid), signal.SIGINT)
        assert server.wait_exit() == 0, server.output()
        assert "Traceback" not in server.output()
        assert postgres_gone(pgdata), postgres_processes(pgdata)


def test_sigterm_while_postgres_is_starting_still_stops_it(data_dir: Path) -> None:
    """Signalled while the embedded server is coming up (pg_ctl waits for it to accept
    connections): the half-started PostgreSQL must not stay behind."""
    pgdata = data_dir / "pg"
    cluster = EmbeddedPostgres(data_dir)  # initdb beforehand: the start is all that is left
    cluster.start()
    cluster.stop()
    env = nchat_env(data_dir)
    with serving(env, data_dir.parent / "serve.log") as server:
        pidfile = pgdata / "postmaster.pid"
        assert wait_until(pidfile.exists, timeout=30, interval=0.002)
        server.send(signal.SIGTERM)
        assert server.wait_exit() == 0, server.output()
        assert "Traceback" not in server.output(), server.output()
        assert postgres_gone(pgdata), postgres_processes(pgdata)
        assert not (data_dir / "pg.owner").exists()


def test_stop_finds_a_server_whose_pid_file_is_not_readable_yet(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The narrow case behind the test above: the signal lands after the postmaster has
    created its pid file but before it wrote it (or before it created it), so pg_ctl could
    not stop it; stop() finds it by its command line instead."""
    pgdata = data_dir / "pg"
    cluster = EmbeddedPostgres(data_dir)
    cluster.start()
    assert postgres_processes(pgdata)
    monkeypatch.setattr(EmbeddedPostgres, "_running_pid", lambda _self: None)
    cluster.stop()
    assert postgres_gone(pgdata), postgres_processes(pgdata)
    assert not (data_dir / "pg.owner").exists()


def test_server_that_cannot_bind_stops_postgres(data_dir: Path) -> None:
    pgdata = data_dir / "pg"
    env = nchat_env(data_dir)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = Server(env, data_dir.parent / "serve.log", port=port)
        try:
            code = server.wait_exit(60)
        finally:
            server.kill()
    assert code != 0, server.output()
    assert (pgdata / "PG_VERSION").exists()  # it did get as far as starting PostgreSQL
    assert postgres_gone(pgdata), postgres_processes(pgdata)


def test_workers_share_the_embedded_server(data_dir: Path) -> None:
    pgdata = data_dir / "pg"
    env = nchat_env(data_dir)
    with serving(env, data_dir.parent / "serve.log", args=("--workers", "2")) as server:
        assert_healthy(server)
        setup = httpx.post(f"{server.url}/api/setup", json=owner(), timeout=10)
        assert setup.status_code == 201, setup.text
        workers = psutil.Process(server.pid).children(recursive=True)
        stop_gracefully(server)
        assert postgres_gone(pgdata), postgres_processes(pgdata)
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == []


def test_kill_ends_every_worker_but_spares_the_embedded_server(data_dir: Path) -> None:
    """What a failing test relies on: the helper's SIGKILL leaves no worker behind, and the
    embedded PostgreSQL (which another nchat may share) is left for the data dir's cleanup."""
    pgdata = data_dir / "pg"
    with serving(
        nchat_env(data_dir), data_dir.parent / "serve.log", args=("--workers", "2")
    ) as server:
        assert_healthy(server)
        children = psutil.Process(server.pid).children(recursive=True)
        assert len(worker_processes(server)) == 2
        server.kill()
        for child in children:
            assert process_gone(child), f"{child} survived the kill"
        assert postgres_processes(pgdata), "the embedded PostgreSQL was killed too"


def worker_processes(server: Server) -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process(server.pid).children(recursive=True)
        if any("spawn_main" in part for part in p.cmdline())  # not the resource tracker
    ]


def test_serve_runs_a_worker_per_core_by_default(fresh_url: str, tmp_path: Path) -> None:
    env = nchat_env(tmp_path / "data", fresh_url)
    del env["NCHAT_WORKERS"]  # as the README starts it
    expected = min(len(os.sched_getaffinity(0)), 4)
    with serving(env, tmp_path / "serve.log") as server:
        assert_healthy(server)
        banner = "1 worker)" if expected == 1 else f"{expected} workers)"
        assert banner in server.output(), server.output()
        # With one worker uvicorn serves in its own process; with more, it spawns them.
        assert len(worker_processes(server)) == (0 if expected == 1 else expected)
        stop_gracefully(server)


def test_nchat_workers_sets_the_number_of_processes(fresh_url: str, tmp_path: Path) -> None:
    env = nchat_env(tmp_path / "data", fresh_url, NCHAT_WORKERS="3")
    with serving(env, tmp_path / "serve.log") as server:
        assert_healthy(server)
        assert "3 workers)" in server.output(), server.output()
        assert len(worker_processes(server)) == 3
        stop_gracefully(server)
