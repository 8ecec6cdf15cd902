"""`nchat storage check|migrate`: the store compared with the rows, and local files moved to
S3 (the rclone server), resumably."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner, Result

from nchat.app import create_app
from nchat.cli.main import app
from nchat.db import migrate
from nchat.db.engine import async_url
from tests.conftest import make_settings
from tests.files.helpers import png
from tests.fixtures.processes import throwaway_database
from tests.fixtures.s3 import free_port, s3_settings

runner = CliRunner()


@pytest.fixture
def db_url(server_url: str) -> Iterator[str]:
    with throwaway_database(server_url) as url:
        migrate.upgrade(url)
        yield url


def nchat(url: str, data_dir: Path, *args: str, **env: str) -> Result:
    return runner.invoke(
        app,
        ["storage", *args],
        env={"NCHAT_DATABASE_URL": url, "NCHAT_DATA_DIR": str(data_dir), **env},
    )


def _uploads(url: str, data_dir: Path) -> list[dict[str, Any]]:
    """Two files uploaded through the app on the local store, one of them attached."""

    async def work() -> list[dict[str, Any]]:
        application = create_app(make_settings(url, data_dir))
        async with application.router.lifespan_context(application):
            transport = httpx.ASGITransport(app=application)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                r = await client.post(
                    "/api/setup",
                    json={
                        "owner": {
                            "email": "owner@example.com",
                            "username": "owner",
                            "password": "correct horse battery",
                            "display_name": "Owner",
                        }
                    },
                )
                assert r.status_code == 201, r.text
                headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
                records = []
                for name, data in (("a.txt", b"alpha" * 100), ("b.png", png(64, 48))):
                    r = await client.post(
                        "/api/files", headers=headers, files={"file": (name, data)}
                    )
                    assert r.status_code == 201, r.text
                    records.append(r.json())
                return records

    return asyncio.run(work())


def _object(data_dir: Path, key: str) -> Path:
    return data_dir / "files" / key.split(".", maxsplit=1)[0][-2:] / key


def test_check_finds_missing_changed_and_orphaned_objects(db_url: str, tmp_path: Path) -> None:
    text, image = _uploads(db_url, tmp_path)
    ok = nchat(db_url, tmp_path, "check")
    assert ok.exit_code == 0, ok.output
    assert "2 files checked" in ok.output
    _object(tmp_path, text["id"]).write_bytes(b"alpha" * 99 + b"omega")  # same size
    _object(tmp_path, f"{image['id']}.thumbnail").unlink()
    orphan = "01a24400-0000-7000-8000-000000000000"
    _object(tmp_path, orphan).parent.mkdir(parents=True, exist_ok=True)
    _object(tmp_path, orphan).write_bytes(b"left over")
    bad = nchat(db_url, tmp_path, "check")
    assert bad.exit_code == 1, bad.output
    assert f"sha256 differs: {text['id']}" in bad.output
    assert f"missing: {image['id']}.thumbnail" in bad.output
    assert f"no row (can be removed): {orphan}" in bad.output
    sizes = nchat(db_url, tmp_path, "check", "--sizes-only")
    assert "sha256 differs" not in sizes.output  # the same size passes without reading


def test_migrate_to_s3_copies_verifies_and_resumes(
    db_url: str, tmp_path: Path, s3_server: str
) -> None:
    text, image = _uploads(db_url, tmp_path)
    env = {f"NCHAT_{k.upper()}": str(v) for k, v in s3_settings(s3_server).items()}
    del env["NCHAT_STORAGE_BACKEND"]  # still local: migrate copies from here to S3
    _object(tmp_path, text["id"]).rename(tmp_path / "aside")  # an interruption, of sorts
    first = nchat(db_url, tmp_path, "migrate", "--to", "s3", **env)
    assert first.exit_code == 1, first.output
    assert f"not in the S3 store as recorded: {text['id']}" in first.output
    (tmp_path / "aside").rename(_object(tmp_path, text["id"]))
    again = nchat(db_url, tmp_path, "migrate", "--to", "s3", **env)
    assert again.exit_code == 0, again.output
    assert "1 objects copied, 3 there already" in again.output
    on_s3 = nchat(db_url, tmp_path, "check", **{**env, "NCHAT_STORAGE_BACKEND": "s3"})
    assert on_s3.exit_code == 0, on_s3.output
    assert "2 files checked in the s3 store" in on_s3.output
    assert image["id"]  # its three objects were copied in the first run


def test_doctor_reports_a_store_it_cannot_use(db_url: str, tmp_path: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {f"NCHAT_{k.upper()}": str(v) for k, v in s3_settings(endpoint).items()}
    result = runner.invoke(
        app,
        ["db", "doctor", "--json"],
        env={"NCHAT_DATABASE_URL": db_url, "NCHAT_DATA_DIR": str(tmp_path), **env},
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    storage = next(c for c in report["checks"] if c["name"] == "storage")
    assert storage["status"] == "fail"
    assert any("unreachable" in p["message"] for p in report["problems"])


def test_check_counts_ready_exports_as_objects_the_rows_name(db_url: str, tmp_path: Path) -> None:
    _uploads(db_url, tmp_path)
    export_id = "01a24400-0000-7000-8000-00000000e0e0"
    key = f"exports/{export_id}.zip"

    async def ready_export() -> None:
        engine = create_async_engine(async_url(db_url))
        try:
            async with engine.begin() as conn:
                owner = await conn.scalar(sa.text("SELECT id FROM nchat_users LIMIT 1"))
                await conn.execute(
                    sa.text(
                        "INSERT INTO nchat_exports (id, user_id, requested_by, status, key, size)"
                        " VALUES (:id, :u, :u, 'ready', :key, 9)"
                    ),
                    {"id": export_id, "u": owner, "key": key},
                )
        finally:
            await engine.dispose()

    asyncio.run(ready_export())
    # Its zip is expected like a file's: reported when it is not there.
    bad = nchat(db_url, tmp_path, "check")
    assert bad.exit_code == 1, bad.output
    assert f"missing: {key}" in bad.output
