"""The admin's user management through HTTP: filters and pages, deactivation ending live
streams, roles, ending sessions, password resets, deletion with anonymisation, audit."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.admin_users.service import reset_token
from nchat.app import create_app
from nchat.users import repository as users_repo
from tests.conftest import make_settings
from tests.fixtures.factories import MadeUser, UserFactory
from tests.fixtures.smtp import SmtpServer, StartSmtp
from tests.messaging.helpers import Api
from tests.realtime.conftest import LiveServer, start_live, stop_live
from tests.realtime.nodes import eventually
from tests.realtime.test_gateway import event_of, frame
from tests.realtime.test_revocation import closed_with


@pytest.fixture
async def live(database_url: str, tmp_path: Path, clean_db: None) -> AsyncIterator[LiveServer]:
    server = await start_live(database_url, tmp_path / "live")
    yield server
    await stop_live(server)


async def sync_cursor(client: httpx.AsyncClient, user: MadeUser) -> str:
    r = await client.get("/api/sync/changes", params={"limit": 1}, headers=user.headers)
    assert r.status_code == 200, r.text
    cursor: str = r.json()["cursor"]
    return cursor


async def audit_entries(client: httpx.AsyncClient, admin: MadeUser) -> list[dict[str, Any]]:
    r = await client.get("/api/admin/audit", params={"limit": 200}, headers=admin.headers)
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


async def signin(client: httpx.AsyncClient, login: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/signin", json={"login": login, "password": password})


async def set_last_used(engine: AsyncEngine, user: MadeUser, days_ago: float) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE nchat_sessions SET last_used_at = now() - make_interval(secs => :s) "
                "WHERE user_id = :u"
            ),
            {"s": days_ago * 86400, "u": user.id},
        )


async def test_list_filters_and_pages(
    client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine
) -> None:
    admin = await make_user("admin")
    ada = await make_user(username="ada")
    await make_user("moderator", username="mona")
    idle = await make_user(username="idle")
    off = await make_user(username="offline-one")
    await set_last_used(engine, idle, 10)
    r = await client.post(f"/api/admin/users/{off.id}/deactivate", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["is_active"] is False and r.json()["session_count"] == 0

    async def names(**params: Any) -> list[str]:
        r = await client.get("/api/admin/users", params=params, headers=admin.headers)
        assert r.status_code == 200, r.text
        return [u["username"] for u in r.json()["users"]]

    everyone = await names()
    assert everyone == ["offline-one", "idle", "mona", "ada", admin.username]  # newest first
    first = (await client.get("/api/admin/users", headers=admin.headers)).json()["users"]
    shown = {u["username"]: u for u in first}
    assert shown["ada"]["email"] == ada.email
    assert shown["ada"]["session_count"] == 1
    assert shown["ada"]["last_seen_at"] is not None
    assert set(shown["ada"]) >= {"role", "is_active", "created_at"}

    assert await names(role="moderator") == ["mona"]
    assert await names(active="false") == ["offline-one"]
    assert "offline-one" not in await names(active="true")
    assert await names(q="ADA@EXAMPLE") == ["ada"]  # email, case-insensitively
    assert await names(q="Mon") == ["mona"]  # the display name
    week_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7 * 86400))
    assert await names(seen_before=week_ago) == ["idle"]
    assert "idle" not in await names(seen_after=week_ago)

    pages: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/api/admin/users", params=params, headers=admin.headers)).json()
        pages += [u["username"] for u in body["users"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == everyone

    for bad in (
        {"limit": 201},
        {"limit": 0},
        {"role": "king"},
        {"active": "perhaps"},
        {"seen_before": "0.5"},
        {"seen_after": "9999-12-31T23:00:00-05:00"},  # past the calendar in UTC
    ):
        r = await client.get("/api/admin/users", params=bad, headers=admin.headers)
        assert r.status_code == 422, bad
    r = await client.get("/api/admin/users", params={"cursor": "!!"}, headers=admin.headers)
    assert r.status_code == 400


async def test_deactivation_ends_the_live_socket_and_reactivation_lets_them_back(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    admin = await make_user("admin")
    bob = await make_user()
    channel = await api.create_channel(admin, "watched", members=(bob,))
    ws = await websockets.connect(live.ws_url())
    try:
        await ws.send(json.dumps({"type": "auth", "token": bob.access_token}))
        await frame(ws, "hello")
        await api.send(admin, channel["id"], "hello bob")
        await event_of(ws, "message.created")
        r = await client.post(f"/api/admin/users/{bob.id}/deactivate", headers=admin.headers)
        assert r.status_code == 200, r.text
        assert await closed_with(ws) == (4001, "session ended")
    finally:
        await ws.close()
    assert (await client.get("/api/users/me", headers=bob.headers)).status_code == 401
    assert (await signin(client, bob.username, bob.password)).status_code == 401

    r = await client.post(f"/api/admin/users/{bob.id}/reactivate", headers=admin.headers)
    assert r.status_code == 200 and r.json()["is_active"] is True
    assert (await signin(client, bob.username, bob.password)).status_code == 200
    actions = {e["action"]: e for e in await audit_entries(client, admin)}
    deactivated = actions["user.deactivated"]
    assert deactivated["actor_id"] == str(admin.id)
    assert deactivated["target_id"] == str(bob.id)
    assert deactivated["details"] == {
        "before": {"is_active": True},
        "after": {"is_active": False},
        "sessions_ended": 1,
    }
    assert actions["user.reactivated"]["details"]["after"] == {"is_active": True}


async def test_role_changes_follow_the_existing_rules(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    owner = await make_user("owner")
    admin = await make_user("admin")
    bob = await make_user()
    url = f"/api/admin/users/{bob.id}/role"
    r = await client.post(url, headers=admin.headers, json={"role": "moderator"})
    assert r.status_code == 200 and r.json()["role"] == "moderator"
    entry = (await audit_entries(client, admin))[0]
    assert entry["action"] == "user.role_changed"
    assert entry["details"] == {"before": {"role": "member"}, "after": {"role": "moderator"}}
    # An admin cannot make owners, nor touch one; an owner does not demote themselves here.
    r = await client.post(url, headers=admin.headers, json={"role": "owner"})
    assert r.json()["error"]["code"] == "role_not_assignable"
    r = await client.post(
        f"/api/admin/users/{owner.id}/role", headers=admin.headers, json={"role": "member"}
    )
    assert r.status_code == 403
    r = await client.post(
        f"/api/admin/users/{owner.id}/role", headers=owner.headers, json={"role": "member"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "own_account"
    for bad in ({"role": "king"}, {}, {"role": "member", "extra": 1}, {"role": None}):
        assert (await client.post(url, headers=admin.headers, json=bad)).status_code == 422
    missing = "/api/admin/users/01890000-0000-7000-8000-000000000000/role"
    r = await client.post(missing, headers=admin.headers, json={"role": "member"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "user_not_found"
    r = await client.post("/api/admin/users/not-an-id/role", headers=admin.headers, json={})
    assert r.status_code == 422


async def test_revoking_sessions_ends_every_one(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    bob = await make_user()
    other = await signin(client, bob.username, bob.password)
    other_headers = {"Authorization": f"Bearer {other.json()['access_token']}"}
    r = await client.post(f"/api/admin/users/{bob.id}/revoke-sessions", headers=admin.headers)
    assert r.status_code == 200 and r.json() == {"sessions_ended": 2}
    for headers in (bob.headers, other_headers):
        assert (await client.get("/api/users/me", headers=headers)).status_code == 401
    # Still active: signing in again works.
    assert (await signin(client, bob.username, bob.password)).status_code == 200
    entry = (await audit_entries(client, admin))[0]
    assert entry["action"] == "user.sessions_revoked"
    assert entry["details"] == {"sessions_ended": 2}


async def test_a_temporary_password_without_email(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    bob = await make_user()
    url = f"/api/admin/users/{bob.id}/reset-password"
    r = await client.post(url, headers=admin.headers, json={"method": "email"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "email_not_configured"
    r = await client.post(url, headers=admin.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "temporary_password" and body["sessions_ended"] == 1
    assert (await client.get("/api/users/me", headers=bob.headers)).status_code == 401
    assert (await signin(client, bob.username, bob.password)).status_code == 401
    assert (await signin(client, bob.username, body["temporary_password"])).status_code == 200
    entry = (await audit_entries(client, admin))[0]
    assert entry["action"] == "user.password_reset"
    assert body["temporary_password"] not in json.dumps(entry)


@pytest.fixture
async def mail_app(
    database_url: str, tmp_path: Path, smtp_server: StartSmtp, clean_db: None
) -> AsyncIterator[tuple[httpx.AsyncClient, SmtpServer, FastAPI]]:
    server = smtp_server()
    app = create_app(
        make_settings(
            database_url, tmp_path, public_url="https://chat.example.org", **server.settings()
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c, server, app


async def test_a_reset_link_by_email_works_once(
    mail_app: tuple[httpx.AsyncClient, SmtpServer, FastAPI],
    make_user: UserFactory,
    engine: AsyncEngine,
) -> None:
    client, smtp, app = mail_app
    admin = await make_user("admin")
    bob = await make_user()
    r = await client.post(f"/api/admin/users/{bob.id}/reset-password", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["method"] == "email" and r.json()["expires_at"]
    # The session goes on until the link is used.
    assert (await client.get("/api/users/me", headers=bob.headers)).status_code == 200
    for _ in range(100):
        if smtp.received:
            break
        await asyncio.sleep(0.05)
    (mail,) = smtp.received
    assert mail.rcpt_tos == [bob.email]
    text = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(r"https://chat\.example\.org/#/reset-password/(\S+)", text)
    assert found is not None, text
    token = found.group(1)

    done = "/api/auth/password-reset"
    r = await client.post(done, json={"token": token, "new_password": "short"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "password_too_short"
    r = await client.post(done, json={"token": token, "new_password": "a brand new secret"})
    assert r.status_code == 204, r.text
    assert (await client.get("/api/users/me", headers=bob.headers)).status_code == 401
    assert (await signin(client, bob.username, "a brand new secret")).status_code == 200
    again = await client.post(done, json={"token": token, "new_password": "yet another one"})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_reset_token"

    async with engine.connect() as conn:
        row = await users_repo.get_by_id(conn, bob.id)
    assert row is not None
    secret = app.state.settings.jwt_secret
    expired = reset_token(row, int(time.time()) - 1, secret=secret)
    forged = reset_token(row, int(time.time()) + 60, secret="another-secret-of-enough-length!!")
    for bad in (expired, forged, "nonsense", f"{bob.id}.x.y"):
        r = await client.post(done, json={"token": bad, "new_password": "yet another one"})
        assert r.status_code == 400, bad
    actions = [e["action"] for e in await audit_entries(client, admin)]
    assert "user.password_reset_sent" in actions
    assert "user.password_reset_completed" in actions


async def test_anonymised_deletion_keeps_messages_and_frees_the_email(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api, engine: AsyncEngine
) -> None:
    owner = await make_user("owner")
    admin = await make_user("admin")
    bob = await make_user(username="bob")
    channel = await api.create_channel(admin, "general", members=(bob,))
    start = await sync_cursor(client, admin)
    await api.send(bob, channel["id"], "my words stay")
    r = await client.put(
        f"/api/users/{bob.id}",
        headers=bob.headers,
        json={"status_text": "on holiday", "timezone": "Europe/Paris", "display_name": "Bobby"},
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        "/api/users/me/notification-preferences", headers=bob.headers, json={"level": "all"}
    )
    assert r.status_code == 200, r.text

    r = await client.delete(
        f"/api/admin/users/{bob.id}", params={"anonymise": "true"}, headers=admin.headers
    )
    assert r.status_code == 204, r.text
    # Replayed from before the erasure, the event log names him no more. (The log shows an
    # event once every transaction older than it has ended, other databases' included.)
    replayed = httpx.Response(500)

    async def both_replayed() -> bool:
        nonlocal replayed
        replayed = await client.get(
            "/api/sync/changes", params={"since": start, "limit": 200}, headers=admin.headers
        )
        kinds = [e["type"] for e in replayed.json()["events"]]
        return "message.created" in kinds and "user.updated" in kinds

    await eventually(both_replayed, what="the message and the profile change in the log")
    assert "Bobby" not in replayed.text and '"bob"' not in replayed.text
    assert "on holiday" not in replayed.text
    (message,) = (await api.history(admin, channel["id"]))["messages"]
    assert message["text"] == "my words stay"
    assert message["user"]["name"] == "Deleted user"
    assert "bob" not in message["user"]["username"]
    assert (await client.get("/api/users/me", headers=bob.headers)).status_code == 401
    async with engine.connect() as conn:
        row = await users_repo.get_by_id(conn, bob.id)
        left = {
            table: await conn.scalar(
                sa.text(f"SELECT count(*) FROM {table} WHERE user_id = :u"), {"u": bob.id}
            )
            for table in (
                "nchat_sessions",
                "nchat_login_addresses",
                "nchat_notification_settings",
                "nchat_push_devices",
            )
        }
    assert row is not None
    assert bob.email not in str(dict(row)) and row["status_text"] is None
    assert row["timezone"] is None and row["deleted_at"] is not None
    assert left == dict.fromkeys(left, 0)
    # The address and name are free for a new account.
    r = await client.post(
        "/api/users",
        headers=admin.headers,
        json={"email": bob.email, "username": "bob", "password": "a fresh password"},
    )
    assert r.status_code == 201, r.text
    # Once anonymised, it is gone for this endpoint.
    again = await client.delete(
        f"/api/admin/users/{bob.id}", params={"anonymise": "true"}, headers=admin.headers
    )
    assert again.status_code == 404
    entries = await audit_entries(client, admin)
    assert [e["action"] for e in entries[:2]] == ["user.created", "user.anonymised"]
    assert entries[1]["details"] == {
        "before": {"role": "member", "deleted": False},
        "after": {"deleted": True},
    }
    assert bob.email not in json.dumps(entries[1])
    # Never an owner by an admin; never oneself.
    r = await client.delete(
        f"/api/admin/users/{owner.id}", params={"anonymise": "true"}, headers=admin.headers
    )
    assert r.status_code == 403
    r = await client.delete(
        f"/api/admin/users/{owner.id}", params={"anonymise": "true"}, headers=owner.headers
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "own_account"
    r = await client.delete(
        f"/api/admin/users/{owner.id}", params={"anonymise": "maybe"}, headers=owner.headers
    )
    assert r.status_code == 422


async def test_plain_deletion_is_the_users_feature_one(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    bob = await make_user()
    assert (
        await client.delete(f"/api/admin/users/{bob.id}", headers=admin.headers)
    ).status_code == 204
    assert (await audit_entries(client, admin))[0]["action"] == "user.deleted"
    r = await client.post(f"/api/admin/users/{bob.id}/deactivate", headers=admin.headers)
    assert r.status_code == 404


async def test_members_are_refused(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    member = await make_user()
    moderator = await make_user("moderator")
    target = await make_user()
    base = f"/api/admin/users/{target.id}"
    for caller in (member, moderator):
        calls = [
            client.get("/api/admin/users", headers=caller.headers),
            client.get(base, headers=caller.headers),
            client.post(f"{base}/deactivate", headers=caller.headers),
            client.post(f"{base}/reactivate", headers=caller.headers),
            client.post(f"{base}/role", headers=caller.headers, json={"role": "guest"}),
            client.post(f"{base}/revoke-sessions", headers=caller.headers),
            client.post(f"{base}/reset-password", headers=caller.headers),
            client.delete(base, params={"anonymise": "true"}, headers=caller.headers),
            client.get("/api/admin/stats", headers=caller.headers),
        ]
        for r in [await call for call in calls]:
            assert r.status_code == 403, (r.request.url, r.text)
    assert (await client.get("/api/admin/users")).status_code == 401
    assert (await client.get("/api/users/me", headers=target.headers)).status_code == 200


async def test_an_admin_does_not_act_on_their_own_account(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    admin = await make_user("admin")
    base = f"/api/admin/users/{admin.id}"
    calls = [
        client.post(f"{base}/deactivate", headers=admin.headers),
        client.post(f"{base}/role", headers=admin.headers, json={"role": "member"}),
        client.post(f"{base}/revoke-sessions", headers=admin.headers),
        client.post(f"{base}/reset-password", headers=admin.headers),
        client.delete(base, params={"anonymise": "true"}, headers=admin.headers),
        client.delete(base, headers=admin.headers),
    ]
    for r in [await call for call in calls]:
        assert r.status_code == 409, (r.request.url, r.text)
        assert r.json()["error"]["code"] == "own_account"
    # Looking is fine, and nothing changed: still signed in, still an admin.
    r = await client.get(base, headers=admin.headers)
    assert r.status_code == 200 and r.json()["role"] == "admin" and r.json()["is_active"]


async def test_user_creation_is_audited(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    admin = await make_user("admin")
    r = await client.post(
        "/api/users",
        headers=admin.headers,
        json={"email": "new@example.com", "username": "newbie", "password": "long enough pw"},
    )
    assert r.status_code == 201
    entry = (await audit_entries(client, admin))[0]
    assert entry["action"] == "user.created"
    assert entry["target_id"] == r.json()["id"]
    assert entry["actor_id"] == str(admin.id)
    assert entry["details"] == {"role": "member"}
