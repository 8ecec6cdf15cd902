"""Every section of the app configuration is typed: a bad value anywhere is a 422 naming its
path, and nothing changes (no key written, no version kept)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat import housekeeping
from tests.files.helpers import png, uploaded
from tests.fixtures.factories import MadeUser, UserFactory


async def _config(client: httpx.AsyncClient, admin: MadeUser) -> dict[str, Any]:
    r = await client.get("/api/admin/config", headers=admin.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _refused_at(
    client: httpx.AsyncClient, admin: MadeUser, patch: dict[str, Any], path: list[str]
) -> None:
    before = await _config(client, admin)
    r = await client.patch("/api/admin/config", headers=admin.headers, json=patch)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert ["body", *path] in [e["loc"] for e in error["details"]["errors"]], error
    assert await _config(client, admin) == before
    history = await client.get("/api/admin/config/history", headers=admin.headers)
    assert history.json()["versions"] == []


@pytest.mark.parametrize(
    ("patch", "path"),
    [
        ({"branding": {"app_name": ""}}, ["branding", "app_name"]),
        ({"branding": {"app_name": "x" * 81}}, ["branding", "app_name"]),
        ({"branding": {"app_name": -3}}, ["branding", "app_name"]),
        ({"branding": {"logo_file_id": "lots"}}, ["branding", "logo_file_id"]),
        ({"branding": {"tagline": "hi"}}, ["branding", "tagline"]),
        ({"theme": {"mode": "lots"}}, ["theme", "mode"]),
        ({"theme": {"accent": "#12345"}}, ["theme", "accent"]),
        ({"theme": {"accent": "red"}}, ["theme", "accent"]),
        ({"theme": {"accent": "#gg0000"}}, ["theme", "accent"]),
        ({"features": {"signup_open": "lots"}}, ["features", "signup_open"]),
        ({"features": {"search": 1}}, ["features", "search"]),
        ({"features": {"push": "yes"}}, ["features", "push"]),
        ({"features": {"email": None}}, ["features", "email"]),
        ({"features": {"file_uploads": -3}}, ["features", "file_uploads"]),
        ({"features": {"invitations": True}}, ["features", "invitations"]),
        ({"integrations": {"giphy": {"key": "x"}}}, ["integrations", "giphy"]),
        (
            {"auth_providers": {"password": {"enabled": False}}},
            ["auth_providers", "password", "enabled"],
        ),
        ({"auth_providers": {"oidc": []}}, ["auth_providers", "oidc"]),
        ({"files": {"max_upload_bytes": -3}}, ["files", "max_upload_bytes"]),
        ({"files": {"max_upload_bytes": "lots"}}, ["files", "max_upload_bytes"]),
        ({"files": {"max_upload_bytes": 2**41}}, ["files", "max_upload_bytes"]),
        (
            {"mobile": {"offlineCache": {"maxMessages": "lots"}}},
            ["mobile", "offlineCache", "maxMessages"],
        ),
        (
            {"mobile": {"offlineCache": {"maxMediaSize": -3}}},
            ["mobile", "offlineCache", "maxMediaSize"],
        ),
        ({"mobile": {"backgroundSync": {"interval": 0}}}, ["mobile", "backgroundSync", "interval"]),
        ({"mobile": {"analytics": {"enabled": "lots"}}}, ["mobile", "analytics", "enabled"]),
        (
            {"mobile": {"analytics": {"firebaseConfig": {"apiKey": 3}}}},
            ["mobile", "analytics", "firebaseConfig", "apiKey"],
        ),
    ],
)
async def test_a_bad_value_is_422_at_its_path_and_changes_nothing(
    client: httpx.AsyncClient, make_user: UserFactory, patch: dict[str, Any], path: list[str]
) -> None:
    admin = await make_user("admin")
    await _refused_at(client, admin, patch, path)


async def test_one_bad_key_refuses_the_good_ones_beside_it(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    patch = {"branding": {"app_name": "Fine"}, "theme": {"accent": "#zzzzzz"}}
    await _refused_at(client, admin, patch, ["theme", "accent"])
    assert (await client.get("/api/config")).json()["app_name"] == "nchat"


async def test_the_logo_is_an_uploaded_image(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    text = await uploaded(client, admin, b"just words\n", "notes.txt")
    image = await uploaded(client, admin, png(8, 8), "logo.png")
    missing = "0190f3c4-0000-7000-8000-000000000000"
    await _refused_at(
        client, admin, {"branding": {"logo_file_id": missing}}, ["branding", "logo_file_id"]
    )
    await _refused_at(
        client, admin, {"branding": {"logo_file_id": text["id"]}}, ["branding", "logo_file_id"]
    )
    r = await client.patch(
        "/api/admin/config",
        headers=admin.headers,
        json={"branding": {"logo_file_id": image["id"].upper()}},
    )
    assert r.status_code == 200, r.text
    assert (await client.get("/api/config")).json()["logo_file_id"] == image["id"]
    # A null clears it.
    r = await client.patch(
        "/api/admin/config", headers=admin.headers, json={"branding": {"logo_file_id": None}}
    )
    assert r.status_code == 200, r.text
    assert (await client.get("/api/config")).json()["logo_file_id"] is None


async def test_every_section_has_its_typed_defaults(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    config = await _config(client, admin)
    assert config["branding"] == {"app_name": "nchat", "logo_file_id": None}
    assert config["theme"] == {"mode": "system", "accent": "#2f6fed"}
    assert config["features"] == {
        "signup_open": False,
        "file_uploads": True,
        "search": True,
        "push": True,
        "email": True,
    }
    assert config["integrations"] == {}
    assert config["auth_providers"] == {"password": {"enabled": True}}
    public = (await client.get("/api/config")).json()
    assert public["auth_providers"] == ["password"]
    assert {public[k] for k in ("search", "push", "email")} == {True}


async def test_setup_sections_cannot_be_patched(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    r = await client.patch(
        "/api/admin/config", headers=admin.headers, json={"owner": {"user_id": str(admin.id)}}
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"]["errors"][0]["loc"] == ["body", "owner"]


async def test_the_logo_outlives_the_sweep_of_unattached_uploads(
    client: httpx.AsyncClient, make_user: UserFactory, app: FastAPI, engine: AsyncEngine
) -> None:
    admin = await make_user("admin")
    logo = await uploaded(client, admin, png(8, 8), "logo.png")
    stale = await uploaded(client, admin, png(8, 8), "stale.png")
    r = await client.patch(
        "/api/admin/config", headers=admin.headers, json={"branding": {"logo_file_id": logo["id"]}}
    )
    assert r.status_code == 200, r.text
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE nchat_files SET created_at = now() - interval '25 hours'")
        )
    await housekeeping.run_once(engine, app.state.settings, app.state.storage)
    async with engine.connect() as conn:
        left = await conn.scalars(sa.text("SELECT id::text FROM nchat_files"))
        assert list(left) == [logo["id"]]
    assert stale["id"] != logo["id"]
