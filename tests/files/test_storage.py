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
