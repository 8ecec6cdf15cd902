"""Files against both stores: the local directory, and a real S3 server (tests/fixtures/s3.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.app import create_app
from tests.conftest import make_settings
from tests.fixtures.factories import UserFactory
from tests.fixtures.s3 import s3_settings
from tests.messaging.helpers import Api


@pytest.fixture(scope="session", params=["local", "s3"])
async def files_app(
    request: pytest.FixtureRequest,
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[FastAPI]:
    """The app on one store or the other: every test here runs against both."""
    overrides: dict[str, object] = {}
    if request.param == "s3":
        overrides = s3_settings(request.getfixturevalue("s3_server"))
    application = create_app(
        make_settings(database_url, tmp_path_factory.mktemp("data"), **overrides)
    )
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def fclient(files_app: FastAPI, clean_db: None) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app, whose store starts empty like its database."""
    store = files_app.state.storage
    for stored in [found async for found in store.objects()]:
        await store.delete(stored.key)
    transport = httpx.ASGITransport(app=files_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
async def fusers(files_app: FastAPI, engine: AsyncEngine, clean_db: None) -> UserFactory:
    return UserFactory(engine, files_app.state.settings)


@pytest.fixture
def fapi(fclient: httpx.AsyncClient) -> Api:
    return Api(fclient)
