from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import structlog.testing
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat import housekeeping
from nchat.app import create_app
from nchat.storage import make_storage
from tests.conftest import make_settings


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
