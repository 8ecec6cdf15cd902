"""Every switch of the app configuration takes effect, each through HTTP: sign-up, uploads,
search (REST and GraphQL), push (registration and delivery), missed-message email, the
name in the public config and the email subject, the theme, the mobile offline cache."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.fixtures.factories import MadeUser, UserFactory
from tests.fixtures.push_service import PushService
from tests.fixtures.smtp import HOST, Handler
from tests.messaging.helpers import Api
from tests.notifications.conftest import (  # noqa: F401 (fixtures)
    PUSH_DELAY_S,
    napi,
    notify_app,
    notify_client,
    notify_engine,
    notify_url,
    people,
)
from tests.notifications.test_email_flow import mail_for, mailbox  # noqa: F401 (fixture)
from tests.notifications.test_webpush_flow import dm_between, register


@pytest.fixture(scope="module")
def notify_overrides(mailbox: tuple[int, Handler]) -> dict[str, object]:  # noqa: F811
    return {"smtp_host": HOST, "smtp_port": mailbox[0], "smtp_starttls": False}


async def switch(client: httpx.AsyncClient, admin: MadeUser, section: str, **keys: Any) -> None:
    r = await client.patch("/api/admin/config", headers=admin.headers, json={section: keys})
    assert r.status_code == 200, r.text


def refused(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


async def test_signup_open(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    admin = await make_user("admin")
    body = {"email": "n@example.com", "username": "newbie", "password": "long enough pw"}
    refused(await client.post("/api/auth/signup", json=body), 403, "signup_closed")
    await switch(client, admin, "features", signup_open=True)
    assert (await client.get("/api/config")).json()["signup_open"] is True
    r = await client.post("/api/auth/signup", json=body)
    assert r.status_code in (200, 201), r.text


async def test_file_uploads(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    admin = await make_user("admin")
    files = {"file": ("a.txt", b"words", "text/plain")}
    await switch(client, admin, "features", file_uploads=False)
    r = await client.post("/api/files", headers=admin.headers, files=files)
    refused(r, 403, "uploads_disabled")
    await switch(client, admin, "features", file_uploads=True)
    r = await client.post("/api/files", headers=admin.headers, files=files)
    assert r.status_code == 201, r.text


async def test_search(client: httpx.AsyncClient, make_user: UserFactory, api: Api) -> None:
    admin = await make_user("admin")
    channel = await api.create_channel(admin, "plans")
    await api.send(admin, channel["id"], "the launch plans")
    await switch(client, admin, "features", search=False)
    assert (await client.get("/api/config")).json()["search"] is False
    for path in ("/api/search/messages", "/api/search/files"):
        r = await client.get(path, headers=admin.headers, params={"q": "plans"})
        refused(r, 403, "search_disabled")
        assert r.json()["error"]["message"] == "Search is turned off on this server"
    query = {"query": 'query { search(query: "plans") { hits { highlight } } }'}
    r = await client.post("/graphql", headers=admin.headers, json=query)
    assert r.json()["errors"][0]["extensions"]["code"] == "search_disabled"

    await switch(client, admin, "features", search=True)
    r = await client.get("/api/search/messages", headers=admin.headers, params={"q": "plans"})
    assert r.status_code == 200, r.text
    assert [m["text"] for m in r.json()["messages"]] == ["the launch plans"]


async def test_branding_theme_and_mobile(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    admin = await make_user("admin")
    r = await client.patch(
        "/api/admin/config",
        headers=admin.headers,
        json={
            "branding": {"app_name": "Acme Chat"},
            "theme": {"mode": "dark", "accent": "#C2255C"},
            "mobile": {"offlineCache": {"maxMessages": 7}},
        },
    )
    assert r.status_code == 200, r.text
    public = (await client.get("/api/config")).json()
    assert public["app_name"] == "Acme Chat"
    assert public["theme"] == {"mode": "dark", "accent": "#C2255C"}
    boot = await client.get("/api/sync/bootstrap", headers=admin.headers)
    assert boot.json()["max_messages"] == 7
    await switch(client, admin, "mobile", offlineCache={"enabled": False})
    boot = await client.get("/api/sync/bootstrap", headers=admin.headers)
    assert boot.json()["max_messages"] == 0
    status = await client.get("/api/sync/status", headers=admin.headers)
    assert status.json()["mobile"]["offlineCache"] == {
        "enabled": False,
        "maxMessages": 7,
        "maxMediaSize": 524288000,
    }


# -- notifications: an app with its notifier, a push service and a mailbox ------------------


async def test_push_off_refuses_devices_and_sends_nothing(
    notify_client: httpx.AsyncClient,  # noqa: F811
    napi: Api,  # noqa: F811
    people: UserFactory,  # noqa: F811
    push_service: PushService,
) -> None:
    admin, ana, ben = await people("admin"), await people(), await people()
    registered = push_service.subscribe()
    r = await register(notify_client, ben.headers, registered)
    assert r.status_code == 201, r.text
    await switch(notify_client, admin, "features", push=False)
    try:
        r = await register(notify_client, ana.headers, push_service.subscribe())
        refused(r, 403, "push_disabled")
        assert (await notify_client.get("/api/config")).json()["push"] is False
        await napi.send(ana, await dm_between(notify_client, ana, ben), "are you there?")
        await asyncio.sleep(PUSH_DELAY_S + 2.0)
        assert push_service.received == []
    finally:
        await switch(notify_client, admin, "features", push=True)
    await napi.send(ana, await dm_between(notify_client, ana, ben), "and now?")
    [push] = await push_service.wait_for(1)
    assert push.payload["body"] == "and now?"


async def test_email_off_sends_no_missed_message_email_and_the_subject_names_the_server(
    notify_client: httpx.AsyncClient,  # noqa: F811
    napi: Api,  # noqa: F811
    people: UserFactory,  # noqa: F811
    mailbox: tuple[int, Handler],  # noqa: F811
) -> None:
    admin, ana, ben = await people("admin"), await people(), await people()
    await switch(notify_client, admin, "features", email=False)
    try:
        await napi.send(ana, await dm_between(notify_client, ana, ben), "missed, quietly")
        await asyncio.sleep(PUSH_DELAY_S + 2.0)
        assert [m for m in mailbox[1].received if ben.email in m.rcpt_tos] == []
    finally:
        await switch(notify_client, admin, "features", email=True)
    await switch(notify_client, admin, "branding", app_name="Acme Chat")
    await napi.send(ana, await dm_between(notify_client, ana, ben), "missed, loudly")
    [mail] = await mail_for(mailbox[1], ben.email)
    assert mail.message["Subject"] == f"[Acme Chat] New message from {ana.username.title()}"
    plain = mail.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "missed, loudly" in plain and "missed, quietly" not in plain
