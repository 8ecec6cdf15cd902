"""The stores themselves: large objects in parts, and a store that cannot be used said
clearly at start and by the readiness check."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from nchat.app import create_app
from nchat.storage import S3Error
from nchat.storage.s3 import PART_BYTES
from tests.conftest import make_settings
from tests.files.helpers import fetch, object_keys, upload
from tests.fixtures.factories import UserFactory
from tests.fixtures.s3 import S3_SECRET, free_port, s3_settings


async def test_a_large_upload_goes_up_in_parts_and_comes_back_whole(
    fclient: httpx.AsyncClient, fusers: UserFactory, files_app: FastAPI
) -> None:
    ada = await fusers()
    data = os.urandom(2 * PART_BYTES + 12345)  # three parts on S3, the last one short
    r = await upload(fclient, ada, data, "big.bin")
    assert r.status_code == 201, r.text
    record = r.json()
    assert record["size"] == len(data)
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    got = await fetch(fclient, ada, record["url"])
    assert got.status_code == 200
    assert hashlib.sha256(got.content).hexdigest() == record["sha256"]
    assert await object_keys(files_app) == [record["id"]]


@pytest.mark.parametrize(
    ("overrides", "said"),
    [
        ({"s3_secret_access_key": "not-" + S3_SECRET}, "access keys"),
        ({"s3_bucket": "no-such-bucket"}, "NCHAT_S3_BUCKET"),
    ],
    ids=["wrong-secret", "missing-bucket"],
)
async def test_a_store_that_refuses_stops_the_start(
    s3_server: str, database_url: str, tmp_path: Path, overrides: dict[str, str], said: str
) -> None:
    app = create_app(make_settings(database_url, tmp_path, **s3_settings(s3_server, **overrides)))
    with pytest.raises(S3Error, match=said):
        async with app.router.lifespan_context(app):
            pass


async def test_an_unreachable_store_stops_the_start(database_url: str, tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app = create_app(make_settings(database_url, tmp_path, **s3_settings(endpoint)))
    with pytest.raises(S3Error, match="unreachable"):
        async with app.router.lifespan_context(app):
            pass


async def test_readiness_reports_the_store(database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(database_url, tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/api/health/ready")).json() == {"status": "ok"}
            shutil.rmtree(tmp_path / "files")  # the volume went away
            r = await client.get("/api/health/ready")
            assert r.status_code == 503
            assert "file store" in r.json()["reason"]


async def test_s3_downloads_can_stream_through_the_server(
    s3_server: str, database_url: str, tmp_path: Path, make_user: UserFactory
) -> None:
    """NCHAT_S3_PROXY_DOWNLOADS: no redirect; the bytes, and ranges of them, come from nchat."""
    settings = make_settings(
        database_url, tmp_path, **s3_settings(s3_server, s3_proxy_downloads=True)
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ada = await make_user()
            data = os.urandom(300_000)
            r = await upload(client, ada, data, "blob.bin")
            assert r.status_code == 201, r.text
            url = r.json()["url"]
            whole = await client.get(url, headers=ada.headers)
            assert whole.status_code == 200
            assert whole.content == data
            assert whole.headers["content-disposition"].startswith("attachment")
            assert "sandbox" in whole.headers["content-security-policy"]
            part = await client.get(url, headers={**ada.headers, "Range": "bytes=-1000"})
            assert part.status_code == 206
            assert (
                part.headers["content-range"]
                == f"bytes {len(data) - 1000}-{len(data) - 1}/{len(data)}"
            )
            assert part.content == data[-1000:]
            beyond = await client.get(url, headers={**ada.headers, "Range": "bytes=999999-"})
            assert beyond.status_code == 416
            await app.state.storage.delete(r.json()["id"])
