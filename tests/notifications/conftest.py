"""An nchat with notifications on a database of its own: its notifier and job worker are the
only ones there, so what the tests see delivered is what this app decided."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.app import create_app
from nchat.appstate import get
from nchat.db.engine import ENGINE
from tests.conftest import make_settings
from tests.db import fresh_database
from tests.fixtures.factories import UserFactory
from tests.messaging.helpers import Api

# Short delays: the rules are the same, the tests wait less.
PUSH_DELAY_S = 3.0


@pytest.fixture(scope="module")
def notify_url(server_url: str) -> Iterator[str]:
    with fresh_database(server_url) as url:
        yield url


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, object]:
    """Settings a module adds (its SMTP server, say)."""
    return {}


@pytest.fixture(scope="module")
async def notify_app(
    notify_url: str, tmp_path_factory: pytest.TempPathFactory, notify_overrides: dict[str, object]
) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        notify_url,
        tmp_path_factory.mktemp("notify"),
        push_delay_s=PUSH_DELAY_S,
        email_delay_s=PUSH_DELAY_S,
        push_allow_private_endpoints=True,
        **notify_overrides,
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def notify_client(notify_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=notify_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
def napi(notify_client: httpx.AsyncClient) -> Api:
    return Api(notify_client)


@pytest.fixture
def notify_engine(notify_app: FastAPI) -> AsyncEngine:
    return get(notify_app, ENGINE)


@pytest.fixture
def people(notify_app: FastAPI, notify_engine: AsyncEngine) -> UserFactory:
    return UserFactory(notify_engine, notify_app.state.settings)
