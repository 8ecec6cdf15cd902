"""The missed-messages email end to end: DMs and mentions still unread after the email delay
arrive batched in one email at a local SMTP server; its unsubscribe link works without
signing in."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.fixtures.factories import UserFactory
from tests.fixtures.s3 import free_port
from tests.fixtures.smtp import HOST, Handler, Received
from tests.messaging.helpers import Api
from tests.notifications.conftest import PUSH_DELAY_S


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[int, Handler]]:
    handler = Handler()
    port = free_port()
    controller = Controller(handler, hostname=HOST, port=port)
    controller.start()
    yield port, handler
    controller.stop()


@pytest.fixture(scope="module")
def notify_overrides(mailbox: tuple[int, Handler]) -> dict[str, object]:
    return {"smtp_host": HOST, "smtp_port": mailbox[0], "smtp_starttls": False}


async def mail_for(handler: Handler, address: str, timeout: float = 20.0) -> list[Received]:
    for _ in range(int(timeout / 0.1)):
        found = [m for m in handler.received if address in m.rcpt_tos]
        if found:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"no mail for {address}")


async def test_missed_dms_and_mentions_arrive_in_one_email(
    notify_client: httpx.AsyncClient,
    napi: Api,
    people: UserFactory,
    mailbox: tuple[int, Handler],
) -> None:
    ana, ben = await people(), await people()
    dm = await notify_client.post(
        "/api/channels/direct", headers=ana.headers, json={"user_ids": [str(ben.id)]}
    )
    channel = await napi.create_channel(ana, "mail-room", members=(ben,))
    await napi.send(ana, dm.json()["id"], "first <b>DM</b>")
    await napi.send(ana, channel["id"], f"@{ben.username} see the **plan**")
    await napi.send(ana, channel["id"], "not a mention: no email for this one")

    [mail] = await mail_for(mailbox[1], ben.email)
    await asyncio.sleep(1.5)
    assert len([m for m in mailbox[1].received if ben.email in m.rcpt_tos]) == 1  # batched
    message = mail.message
    plain = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "first <b>DM</b>" in plain
    assert "see the **plan**" in plain
    assert "not a mention" not in plain
    assert "<strong>plan</strong>" in html, html
    assert "&lt;b&gt;DM&lt;/b&gt;" in html  # the message's own markup, escaped by the renderer
    unsubscribe = re.search(r"<(http[^>]+)>", message["List-Unsubscribe"])
    assert unsubscribe is not None

    # One click, without signing in: no more emails.
    path = unsubscribe.group(1).split("://", 1)[1].split("/", 1)[1]
    page = await notify_client.get("/" + path)
    assert page.status_code == 200 and "<form" in page.text
    r = await notify_client.post("/" + path, content=b"List-Unsubscribe=One-Click")
    assert r.status_code == 200, r.text
    prefs = await notify_client.get("/api/users/me/notification-preferences", headers=ben.headers)
    assert prefs.json()["email"] is False
    before = len(mailbox[1].received)
    await napi.send(ana, dm.json()["id"], "another one")
    await asyncio.sleep(PUSH_DELAY_S + 2.0)
    assert len(mailbox[1].received) == before


async def test_a_message_read_in_time_is_not_emailed_and_bad_links_change_nothing(
    notify_client: httpx.AsyncClient, napi: Api, people: UserFactory, mailbox: tuple[int, Handler]
) -> None:
    ana, ben = await people(), await people()
    dm = (
        await notify_client.post(
            "/api/channels/direct", headers=ana.headers, json={"user_ids": [str(ben.id)]}
        )
    ).json()["id"]
    sent = await napi.send(ana, dm, "quick question")
    r = await notify_client.post(
        f"/api/channels/{dm}/read", headers=ben.headers, json={"message_id": sent["id"]}
    )
    assert r.status_code == 200
    await asyncio.sleep(PUSH_DELAY_S + 2.0)
    assert [m for m in mailbox[1].received if ben.email in m.rcpt_tos] == []

    for token in ("nonsense", ben.access_token):
        r = await notify_client.post(f"/api/notifications/unsubscribe?token={token}")
        assert r.status_code == 400
    prefs = await notify_client.get("/api/users/me/notification-preferences", headers=ben.headers)
    assert prefs.json()["email"] is True
