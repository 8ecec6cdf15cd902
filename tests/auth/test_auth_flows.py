from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.auth.tokens import decode_access_token, issue_access_token
from tests.fixtures.factories import MadeUser, UserFactory


async def _open_signup(client: httpx.AsyncClient, admin: MadeUser) -> None:
    r = await client.patch(
        "/api/admin/config", headers=admin.headers, json={"features": {"signup_open": True}}
    )
    assert r.status_code == 200, r.text


async def test_signup_closed_by_default_then_open(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    payload = {
        "email": "New@Example.com",
        "username": "Newbie",
        "password": "long enough pw",
        "display_name": "New Person",
    }
    closed = await client.post("/api/auth/signup", json=payload)
    assert closed.status_code == 403
    assert closed.json()["error"]["code"] == "signup_closed"

    await _open_signup(client, admin)
    r = await client.post("/api/auth/signup", json=payload)
    assert r.status_code == 201, r.text
    user = r.json()["user"]
    assert user["username"] == "newbie"  # usernames are case-insensitive, stored lowercase
    assert user["role"] == "member"
    assert user["name"] == "New Person"

    dup = await client.post("/api/auth/signup", json={**payload, "username": "another"})
    assert dup.status_code == 409
    assert dup.json()["error"]["code"] == "email_taken"
    dup = await client.post(
        "/api/auth/signup", json={**payload, "email": "z@example.com", "username": "NEWBIE"}
    )
    assert dup.json()["error"]["code"] == "username_taken"


@pytest.mark.parametrize("login", ["member1x", "member1x@example.com", "MEMBER1X"])
async def test_signin_by_username_or_email(
    client: httpx.AsyncClient, make_user: UserFactory, login: str
) -> None:
    user = await make_user(username="member1x")
    r = await client.post("/api/auth/signin", json={"login": login, "password": user.password})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    me = await client.get(
        "/api/users/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["id"] == str(user.id)


async def test_unknown_user_and_wrong_password_look_the_same(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user()
    wrong = await client.post(
        "/api/auth/signin", json={"login": user.username, "password": "wrong password"}
    )
    unknown = await client.post(
        "/api/auth/signin", json={"login": "nobody-here", "password": "wrong password"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


async def test_deactivated_user_cannot_sign_in(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user(active=False)
    r = await client.post(
        "/api/auth/signin", json={"login": user.username, "password": user.password}
    )
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_credentials"


async def test_bearer_token_required_and_checked(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    assert (await client.get("/api/users/me")).status_code == 401
    bad = await client.get("/api/users/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "invalid_token"
    basic = await client.get("/api/users/me", headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401


async def test_refresh_rotates_and_reuse_revokes_the_session(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user()
    first = await client.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})
    assert first.status_code == 200, first.text
    rotated = first.json()
    assert rotated["refresh_token"] != user.refresh_token
    new_headers = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert (await client.get("/api/users/me", headers=new_headers)).status_code == 200

    # The old token comes back: someone copied it. The whole session ends.
    reuse = await client.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})
    assert reuse.status_code == 401
    assert reuse.json()["error"]["code"] == "refresh_token_reused"
    assert (await client.get("/api/users/me", headers=new_headers)).status_code == 401
    after = await client.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert after.status_code == 401


@pytest.mark.parametrize(
    "token", ["", "garbage", "not-a-uuid.secret", "01a21496-2c19-7035-b81f-ec9ebe1cdae1.secret"]
)
async def test_refresh_rejects_bad_tokens(client: httpx.AsyncClient, token: str) -> None:
    r = await client.post("/api/auth/refresh", json={"refresh_token": token})
    assert r.status_code in (401, 422)
    assert "error" in r.json()


async def test_signout_ends_the_session(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    user = await make_user()
    r = await client.post("/api/auth/signout", headers=user.headers)
    assert r.status_code == 204
    assert (await client.get("/api/users/me", headers=user.headers)).status_code == 401
    refresh = await client.post("/api/auth/refresh", json={"refresh_token": user.refresh_token})
    assert refresh.status_code == 401


async def test_list_and_revoke_sessions(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    user = await make_user()
    other = await client.post(
        "/api/auth/signin", json={"login": user.username, "password": user.password}
    )
    other_headers = {"Authorization": f"Bearer {other.json()['access_token']}"}
    listed = (await client.get("/api/auth/sessions", headers=user.headers)).json()["sessions"]
    assert len(listed) == 2
    assert sum(s["current"] for s in listed) == 1
    target = next(s["id"] for s in listed if not s["current"])

    stranger = await make_user()
    assert (
        await client.delete(f"/api/auth/sessions/{target}", headers=stranger.headers)
    ).status_code == 404
    r = await client.delete(f"/api/auth/sessions/{target}", headers=user.headers)
    assert r.status_code == 204
    assert (await client.get("/api/users/me", headers=other_headers)).status_code == 401
    assert (await client.get("/api/users/me", headers=user.headers)).status_code == 200


async def test_login_rate_limited_per_account(
    client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine
) -> None:
    user = await make_user()
    limit = 5  # Settings.login_max_failures default
    for _ in range(limit):
        r = await client.post(
            "/api/auth/signin", json={"login": user.username, "password": "wrong password"}
        )
        assert r.status_code == 401
    blocked = await client.post(
        "/api/auth/signin", json={"login": user.username, "password": user.password}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    assert blocked.json()["error"]["code"] == "rate_limited"
    # Another account from the same address is not blocked by this account's failures.
    other = await make_user()
    ok = await client.post(
        "/api/auth/signin", json={"login": other.username, "password": other.password}
    )
    assert ok.status_code == 200


async def test_login_rate_limited_per_address(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user()
    for i in range(30):  # Settings.login_ip_max_failures default
        r = await client.post(
            "/api/auth/signin", json={"login": f"ghost{i}", "password": "wrong password"}
        )
        assert r.status_code == 401
    blocked = await client.post(
        "/api/auth/signin", json={"login": user.username, "password": user.password}
    )
    assert blocked.status_code == 429
    assert "retry-after" in blocked.headers


async def test_an_accepted_access_token_is_refused_once_it_expires(
    app: FastAPI, client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    """Verified tokens are remembered per process; expiry is still checked on every use."""
    user = await make_user()
    secret = app.state.settings.jwt_secret
    claims = decode_access_token(user.access_token, secret=secret)
    assert claims is not None
    # Expiry is in whole seconds: a 2 s token lives more than 1 s and at most 2 s.
    token = issue_access_token(
        secret=secret, user_id=user.id, session_id=claims.session_id, ttl_s=2
    )
    headers = {"Authorization": f"Bearer {token}"}
    for _ in range(2):  # the second use finds it verified already
        assert (await client.get("/api/users/me", headers=headers)).status_code == 200
    await asyncio.sleep(2.1)
    r = await client.get("/api/users/me", headers=headers)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    r = await client.get("/api/users/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
