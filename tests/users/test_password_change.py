"""Changing one's own password (POST /api/users/me/password): proven by the current one,
held to the sign-up rule, counted like sign-in failures when wrong; every other session of
the user ends with its live socket, the one that asked stays."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.tables.admin import audit_log
from tests.fixtures.factories import MadeUser, UserFactory
from tests.realtime.conftest import LiveServer, start_live, stop_live
from tests.realtime.test_gateway import frame
from tests.realtime.test_revocation import closed_with

NEW_PASSWORD = "a brand new passphrase"
PATH = "/api/users/me/password"


@pytest.fixture
async def live(database_url: str, tmp_path: Path, clean_db: None) -> AsyncIterator[LiveServer]:
    server = await start_live(database_url, tmp_path)
    yield server
    await stop_live(server)


async def sign_in(client: httpx.AsyncClient, user: MadeUser, password: str) -> httpx.Response:
    return await client.post(
        "/api/auth/signin", json={"login": user.username, "password": password}
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_change_ends_the_other_sessions_and_their_sockets(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine
) -> None:
    user = await make_user()
    other = (await sign_in(client, user, user.password)).json()
    ws = await websockets.connect(live.ws_url())
    try:
        await ws.send(json.dumps({"type": "auth", "token": other["access_token"]}))
        await frame(ws, "hello")

        body = {"current_password": user.password, "new_password": NEW_PASSWORD}
        r = await client.post(PATH, headers=user.headers, json=body)
        assert r.status_code == 204, r.text

        # The other session: its socket closed, its tokens refused.
        assert await closed_with(ws) == (4001, "session ended")
    finally:
        await ws.close()
    assert (
        await client.get("/api/users/me", headers=bearer(other["access_token"]))
    ).status_code == 401
    refreshed = await client.post(
        "/api/auth/refresh", json={"refresh_token": other["refresh_token"]}
    )
    assert refreshed.status_code == 401
    # The session that changed it goes on, with its refresh token.
    assert (await client.get("/api/users/me", headers=user.headers)).status_code == 200
    listed = (await client.get("/api/auth/sessions", headers=user.headers)).json()["sessions"]
    assert [s["current"] for s in listed] == [True]
    refreshed = await client.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})
    assert refreshed.status_code == 200

    assert (await sign_in(client, user, user.password)).status_code == 401
    assert (await sign_in(client, user, NEW_PASSWORD)).status_code == 200
    async with engine.connect() as conn:
        entry = (
            (
                await conn.execute(
                    sa.select(audit_log).where(audit_log.c.action == "user.password_changed")
                )
            )
            .mappings()
            .one()
        )
    assert entry["actor_id"] == user.id and entry["target_id"] == str(user.id)
    assert entry["details"] == {"sessions_ended": 1}


async def test_wrong_current_password_is_refused_and_counted(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user()
    other = (await sign_in(client, user, user.password)).json()
    wrong = {"current_password": "not my password", "new_password": NEW_PASSWORD}
    r = await client.post(PATH, headers=user.headers, json=wrong)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "wrong_password"
    # Nothing changed: the password, and the other session.
    assert (await sign_in(client, user, user.password)).status_code == 200
    assert (
        await client.get("/api/users/me", headers=bearer(other["access_token"]))
    ).status_code == 200

    # Guesses share the sign-in budget of the account (Settings.login_max_failures: 5; the
    # sign-in above cleared the first).
    for _ in range(5):
        r = await client.post(PATH, headers=user.headers, json=wrong)
        assert r.status_code == 403
    right = {"current_password": user.password, "new_password": NEW_PASSWORD}
    blocked = await client.post(PATH, headers=user.headers, json=right)
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "rate_limited"
    assert int(blocked.headers["retry-after"]) >= 1
    assert (await sign_in(client, user, user.password)).status_code == 429


async def test_weak_or_malformed_new_password_is_refused(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user()
    weak = {"current_password": user.password, "new_password": "short"}
    r = await client.post(PATH, headers=user.headers, json=weak)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "password_too_short"
    assert r.json()["error"]["details"]["min_length"] >= 8
    for body in (
        {"current_password": user.password},
        {"current_password": user.password, "new_password": 12345678},
        {"current_password": user.password, "new_password": NEW_PASSWORD, "extra": 1},
    ):
        r = await client.post(PATH, headers=user.headers, json=body)
        assert r.status_code == 422, body
        assert "error" in r.json()
    assert (await client.post(PATH, json=weak)).status_code == 401
    assert (await sign_in(client, user, user.password)).status_code == 200


async def test_documented_with_its_refusals(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/api/openapi.json")).json()
    operation = spec["paths"][PATH]["post"]
    assert operation["security"] == [{"bearer": []}]
    assert {"204", "401", "403", "422", "429"} <= set(operation["responses"])
    assert "wrong_password" in operation["description"]
