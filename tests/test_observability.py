from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import structlog.testing
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat import housekeeping
from nchat.app import create_app
from nchat.appstate import get
from nchat.db.engine import ENGINE, create_engine
from nchat.observability import Metrics, configure_logging
from nchat.storage import make_storage
from tests.conftest import make_settings
from tests.fixtures.factories import UserFactory
from tests.fixtures.metrics import Scrape, busy, scrape
from tests.fixtures.processes import nchat_env, serving, wait_until
from tests.realtime.conftest import start_live, stop_live


async def test_json_logs_carry_the_request_id(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = create_app(make_settings(database_url, tmp_path, log_format="json", log_level="info"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.get("/api/health/live", headers={"X-Request-ID": "req-42"})
    assert r.headers["x-request-id"] == "req-42"
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    record = next(rec for rec in lines if rec.get("path") == "/api/health/live")
    assert record["request_id"] == "req-42"
    assert record["status"] == 200
    assert record["level"] == "info"


async def test_ready_is_503_with_a_reason_when_the_database_is_down(tmp_path: Path) -> None:
    # Nothing listens on port 1: the database is unreachable.
    app = create_app(make_settings("postgresql://postgres@127.0.0.1:1/none", tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ready = await client.get("/api/health/ready")
            health = await client.get("/api/health")
            live = await client.get("/api/health/live")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert "database" in ready.json()["reason"]
    assert health.status_code == 503
    assert health.json()["database"] == "unreachable"
    assert live.status_code == 200


async def test_housekeeping_prunes_old_login_failures(
    client: httpx.AsyncClient, engine: AsyncEngine, tmp_path: Path, database_url: str
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "INSERT INTO nchat_login_failures (account, ip, created_at) VALUES "
                "('old', '1.1.1.1', now() - interval '1 day'), ('new', '1.1.1.1', now())"
            )
        )
    settings = make_settings(database_url, tmp_path)
    await housekeeping.run_once(engine, settings, make_storage(settings))
    async with engine.connect() as conn:
        left = (await conn.execute(sa.text("SELECT account FROM nchat_login_failures"))).all()
    assert [row[0] for row in left] == ["new"]


async def test_a_search_language_the_database_does_not_stem_for_is_warned_about(
    database_url: str, tmp_path: Path
) -> None:
    app = create_app(make_settings(database_url, tmp_path, search_language="french"))
    with structlog.testing.capture_logs() as logs:
        async with app.router.lifespan_context(app):
            pass
    warned = [e for e in logs if "nchat search reindex" in e["event"]]
    assert warned and warned[0]["database"] == "english" and warned[0]["setting"] == "french"


async def test_metrics_show_open_streams_delivery_lag_the_pool_and_the_process(
    database_url: str, tmp_path: Path, clean_db: None, make_user: UserFactory
) -> None:
    live = await start_live(database_url, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{live.port}") as http:
            before = await scrape(http)
        async with busy(live, make_user) as http:
            during = await scrape(http)
            engine = get(live.app, ENGINE)
            async with contextlib.AsyncExitStack() as held:
                for _ in range(3):
                    await held.enter_async_context(engine.connect())
                holding = await scrape(http)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{live.port}") as http:
            assert await _streams_drop_to(http, 0)
    finally:
        await stop_live(live)
    assert before.value("nchat_event_streams_open") == 0
    assert during.value("nchat_event_streams_open") == 1
    # The send reached the socket through the hub, which timed it.
    delivered = during.value("nchat_event_delivery_lag_seconds_count")
    assert delivered >= 1 > before.value("nchat_event_delivery_lag_seconds_count")
    assert 0 <= during.value("nchat_event_delivery_lag_seconds_sum") / delivered < 5
    assert during.value("nchat_event_delivery_lag_seconds_bucket", le="+Inf") == delivered
    # The default pool: 10 connections and as many again in overflow.
    assert during.value("nchat_db_pool_connections_max") == 20
    assert holding.value("nchat_db_pool_connections_in_use") >= 3
    assert during.value("process_resident_memory_bytes") > 10_000_000
    assert during.value("process_open_fds") > 0
    assert during.value("process_cpu_seconds_total") > 0
    assert during.value("python_info") == 1
    # Every notification series from the start, so a rate over them exists before the first.
    assert during.value("nchat_notifications_total", channel="email", outcome="failed") == 0


async def _streams_drop_to(http: httpx.AsyncClient, count: int) -> bool:
    """Closing is asynchronous on the server: the stream goes once its handler ends."""
    for _ in range(100):
        if (await scrape(http)).value("nchat_event_streams_open") == count:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_the_pool_gauges_count_connections_held_idle_and_in_overflow(
    database_url: str,
) -> None:
    engine = create_engine(database_url, pool_size=2)
    metrics = Metrics()

    def pool() -> Scrape:
        metrics.read_pool(engine.sync_engine.pool)
        lines = [
            f"{name} {metrics.registry.get_sample_value(name)}"
            for name in (
                "nchat_db_pool_connections_in_use",
                "nchat_db_pool_connections_idle",
                "nchat_db_pool_overflow_connections",
                "nchat_db_pool_connections_max",
            )
        ]
        return Scrape("\n".join(lines) + "\n")

    try:
        empty = pool()
        async with contextlib.AsyncExitStack() as held:
            for _ in range(3):
                await held.enter_async_context(engine.connect())
            three = pool()
        back = pool()
    finally:
        await engine.dispose()
    assert empty.value("nchat_db_pool_connections_in_use") == 0
    assert empty.value("nchat_db_pool_overflow_connections") == 0
    assert three.value("nchat_db_pool_connections_in_use") == 3
    assert three.value("nchat_db_pool_connections_idle") == 0
    assert three.value("nchat_db_pool_overflow_connections") == 1
    assert three.value("nchat_db_pool_connections_max") == 4
    # The overflow connection is closed on its return; the pool's two wait for use.
    assert back.value("nchat_db_pool_connections_in_use") == 0
    assert back.value("nchat_db_pool_connections_idle") == 2
    assert back.value("nchat_db_pool_overflow_connections") == 0


@pytest.fixture
def stdout_logging_after() -> Iterator[None]:
    yield
    configure_logging("warning", "console")


async def test_logs_go_to_the_log_file_and_follow_logrotate_moving_it(
    database_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    stdout_logging_after: None,
) -> None:
    log_file = tmp_path / "logs" / "nchat.log"
    rotated = tmp_path / "logs" / "nchat.log.1"
    settings = make_settings(
        database_url, tmp_path, log_format="json", log_level="info", log_file=log_file
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await client.get("/api/health/live", headers={"X-Request-ID": "before-rotation"})
            log_file.rename(rotated)  # what logrotate does, without copytruncate
            await client.get("/api/health/live", headers={"X-Request-ID": "after-rotation"})
    old = _request_ids(rotated)
    new = _request_ids(log_file)
    assert "before-rotation" in old and "after-rotation" not in old
    assert "after-rotation" in new and "before-rotation" not in new
    assert "rotation" not in capsys.readouterr().out  # the file instead of stdout


def _request_ids(path: Path) -> set[str]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert all(record["timestamp"] and record["level"] for record in records)
    return {record["request_id"] for record in records if record.get("path")}


def test_nchat_serve_writes_its_log_lines_to_the_log_file(
    database_url: str, tmp_path: Path
) -> None:
    log_file = tmp_path / "logs" / "nchat.log"
    env = nchat_env(
        tmp_path / "data",
        database_url,
        NCHAT_LOG_FILE=str(log_file),
        NCHAT_LOG_FORMAT="json",
        NCHAT_LOG_LEVEL="info",
    )
    with serving(env, tmp_path / "serve.out", args=("--no-migrate",)) as server:
        server.wait_healthy()
        r = httpx.get(
            f"{server.url}/api/health/live", headers={"X-Request-ID": "child-1"}, timeout=10
        )
        assert r.status_code == 200
        written = wait_until(
            lambda: log_file.exists() and "child-1" in log_file.read_text(), timeout=10
        )
        output = server.output()
    assert written, output
    assert "child-1" in _request_ids(log_file)
    assert "child-1" not in output
