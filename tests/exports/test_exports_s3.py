"""An export on an S3 store (rclone, tests/fixtures/s3.py): the uploads' bytes come from
the store, the zip goes to it under exports/ and leaves it once downloaded.

The app has a database of its own: apps on one database share one job queue, and the
suite's app on the local store would take this one's jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from nchat.app import create_app
from nchat.appstate import get
from nchat.db.engine import create_engine
from nchat.storage import STORAGE
from tests.conftest import make_settings
from tests.db import fresh_database
from tests.exports.helpers import FILE_BYTES, read_zip, until_done, write_everything
from tests.fixtures.factories import UserFactory
from tests.fixtures.s3 import s3_settings


@pytest.fixture(scope="session")
def s3_database(server_url: str) -> Iterator[str]:
    with fresh_database(server_url) as url:
        yield url


@pytest.fixture(scope="session")
async def s3_app(
    s3_server: str, s3_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        s3_database, tmp_path_factory.mktemp("s3-data"), **s3_settings(s3_server)
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


async def test_an_export_reads_and_writes_through_s3(s3_app: FastAPI, s3_database: str) -> None:
    engine = create_engine(s3_database)
    try:
        make_user = UserFactory(engine, s3_app.state.settings)
        ada, bob, admin = await make_user(), await make_user(), await make_user("admin")
    finally:
        await engine.dispose()
    transport = httpx.ASGITransport(app=s3_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        written = await write_everything(client, ada, bob)
        r = await client.post(f"/api/admin/users/{ada.id}/export", headers=admin.headers)
        assert r.status_code == 202, r.text
        export_id = r.json()["id"]
        done = await until_done(client, admin, export_id)
        assert done["status"] == "ready"
        storage = get(s3_app, STORAGE)
        key = f"exports/{export_id}.zip"
        stored = await storage.stat(key)
        assert stored is not None
        assert stored.size == done["size"]
        # Streamed through the server, never a redirect to the store: the download is
        # counted only once all of it went out.
        r = await client.get(done["download_url"], headers=admin.headers)
        assert r.status_code == 200
        entries = read_zip(r.content)
        assert entries[f"files/{written.file['id']}/notes.txt"] == FILE_BYTES
        assert await storage.stat(key) is None
        r = await client.get(done["download_url"], headers=admin.headers)
        assert r.status_code == 410
