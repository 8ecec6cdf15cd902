"""Pooled connections that died while idle are replaced before a request uses them."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.db import engine as engine_module
from tests.fixtures.factories import UserFactory

KILL_OTHERS = sa.text(
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    " AND backend_type = 'client backend'"
)


async def test_connections_killed_while_idle_are_replaced(
    app: FastAPI,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ada = await make_user()
    for _ in range(3):  # a few connections into the app's pool
        r = await client.get("/api/channels", headers=ada.headers)
        assert r.status_code == 200, r.text
    # Every idle connection counts as idle long enough to be checked (no waiting here).
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)
    async with engine.connect() as conn:
        killed = await conn.scalar(KILL_OTHERS)
    assert killed and killed >= 1
    for _ in range(5):  # each request gets a live connection, none sees the dead ones
        r = await client.get("/api/channels", headers=ada.headers)
        assert r.status_code == 200, r.text
    # The app outlives this test: the dead connections these requests did not meet would
    # wait in its pool for a later test that does not ping them (the next one here).
    await app.state.engine.dispose()


async def test_only_idle_connections_are_pinged(
    client: httpx.AsyncClient,
    make_user: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Back in use within the idle limit: no round trip before the request's own."""
    ada = await make_user()
    pings: list[object] = []
    original = engine_module.await_only

    def counting(awaitable: object) -> object:
        pings.append(awaitable)
        return original(awaitable)  # type: ignore[arg-type]

    monkeypatch.setattr(engine_module, "await_only", counting)

    async def requests(idle_limit_s: float) -> int:
        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", idle_limit_s)
        pings.clear()
        for _ in range(5):
            r = await client.get("/api/channels", headers=ada.headers)
            assert r.status_code == 200, r.text
        return len(pings)

    assert await requests(3600.0) == 0
    assert await requests(0.0) >= 5
