"""Apps of their own for maintenance mode's tests (so no other test's app is left believing
it is on), each turning it off again on the way out, on every app of the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from nchat import appstate
from nchat.app import create_app
from nchat.db.transaction import app_transaction
from nchat.maintenance import service
from nchat.maintenance.view import MAINTENANCE
from tests.conftest import make_settings
from tests.fixtures.factories import MadeUser
from tests.messaging.helpers import Api

PATH = "/api/admin/maintenance"


async def turn_off(app: FastAPI) -> None:
    """Off, and every app on the database told (over the bus), however a test ended."""
    async with app_transaction(app) as conn:
        await service.do_disable(conn, actor_id=None, via="test")
    await appstate.get(app, MAINTENANCE).changed(None)


async def turn_on(http: httpx.AsyncClient, user: MadeUser, **body: Any) -> dict[str, Any]:
    response = await http.put(PATH, headers=user.headers, json=body)
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    assert state["enabled"] is True
    return state


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def node(database_url: str, tmp_path: Path, clean_db: None) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database_url, tmp_path))
    async with application.router.lifespan_context(application):
        try:
            yield application
        finally:
            await turn_off(application)


@pytest.fixture
async def http(node: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(node) as client:
        yield client


@pytest.fixture
def calls(http: httpx.AsyncClient) -> Api:
    return Api(http)
