from __future__ import annotations

import asyncio

import httpx

OWNER = {
    "email": "owner@example.com",
    "username": "owner",
    "password": "a long password",
    "display_name": "The Owner",
}


async def test_setup_creates_the_owner_once(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/setup/status")).json() == {"completed": False}
    r = await client.post("/api/setup", json={"owner": OWNER, "app_name": "Acme Chat"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["user"]["role"] == "owner"
    assert body["user"]["username"] == "owner"
    assert body["expires_in"] > 0
    assert (await client.get("/api/setup/status")).json() == {"completed": True}

    me = await client.get(
        "/api/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["email"] == "owner@example.com"
    assert (await client.get("/api/config")).json()["app_name"] == "Acme Chat"

    again = await client.post(
        "/api/setup", json={"owner": {**OWNER, "username": "other", "email": "o@example.com"}}
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "setup_completed"


async def test_concurrent_setups_make_exactly_one_owner(client: httpx.AsyncClient) -> None:
    payloads = [
        {"owner": {**OWNER, "username": f"owner{i}", "email": f"owner{i}@example.com"}}
        for i in range(4)
    ]
    results = await asyncio.gather(*(client.post("/api/setup", json=p) for p in payloads))
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 409, 409, 409]


async def test_setup_rejects_short_password_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/api/setup", json={"owner": {**OWNER, "password": "short"}})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "password_too_short"
    assert (await client.get("/api/setup/status")).json() == {"completed": False}


async def test_signup_requires_setup_first(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/api/auth/signup",
        json={"email": "x@example.com", "username": "xavier", "password": "long enough pw"},
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "setup_required"
