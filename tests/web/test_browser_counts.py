"""Counts and saved messages in real browsers against a real `nchat serve`: a read on one of
Bob's devices clears the badges on another from the `read.updated` event alone (no request
for the channel); a DM's badge is its mention count, which the server makes every unread
message; the saved panel lists newest saved first and pages on by the server's cursor. Any
console error, page error or CSP violation fails a test."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.web.browser import needs_chromium
from tests.web.chat import Chat, message, no_problems, open_channel, sidebar_link

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect

UNREAD = re.compile(r"\bunread\b")


def test_a_read_on_one_device_clears_the_badges_on_another(chat: Chat, browser: Any) -> None:
    elsewhere = chat.channel("elsewhere", members=(chat.bob,))
    room = chat.channel("room", members=(chat.bob,))
    dm = chat.post("/api/channels/direct", chat.ada, {"user_ids": [chat.bob_id]})
    chat.send(chat.ada, room["id"], "just news")
    chat.send(chat.ada, room["id"], "@bob have a look")
    chat.send(chat.ada, room["id"], "`@bob` in code is no mention")
    chat.send(chat.ada, dm["id"], "lunch?")
    chat.send(chat.ada, dm["id"], "at noon")

    desk, phone = chat.tab(browser, "bob"), chat.tab(browser, "bob")
    open_channel(desk, chat, elsewhere["id"])
    room_link, dm_link = sidebar_link(desk, room["name"]), sidebar_link(desk, "Ada Owner")
    expect(room_link.locator(".badge")).to_have_text("1")  # the mention, not the code
    expect(room_link).to_have_class(UNREAD)
    expect(dm_link.locator(".badge")).to_have_text("2")  # every unread message of a DM
    asked: list[str] = []
    desk.page.on(
        "request",
        lambda request: asked.append(request.url) if "/api/channels/" in request.url else None,
    )

    open_channel(phone, chat, room["id"])
    expect(message(phone, "in code is no mention")).to_be_visible()
    expect(room_link.locator(".badge")).to_have_count(0)
    expect(room_link).not_to_have_class(UNREAD)
    phone.page.goto(f"{chat.url}/channels/{dm['id']}")
    expect(message(phone, "at noon")).to_be_visible()
    expect(dm_link.locator(".badge")).to_have_count(0)
    expect(dm_link).not_to_have_class(UNREAD)
    # The counts came with the events: the desk asked the server for neither channel.
    assert [url for url in asked if room["id"] in url or dm["id"] in url] == []

    # A new DM message counts on the desk at once, as a mention too.
    phone.page.goto(f"{chat.url}/channels/{elsewhere['id']}")
    expect(phone.page.get_by_role("heading", level=1)).to_contain_text(elsewhere["name"])
    chat.send(chat.ada, dm["id"], "one more thing")
    expect(dm_link.locator(".badge")).to_have_text("1")
    expect(sidebar_link(phone, "Ada Owner").locator(".badge")).to_have_text("1")
    no_problems(desk, phone)


def test_the_saved_panel_lists_newest_saved_first(chat: Chat, browser: Any) -> None:
    room = chat.channel("keep", members=(chat.bob,))
    count = 53  # past the panel's page of 50
    with httpx.Client(
        base_url=chat.url, headers={"Authorization": f"Bearer {chat.bob}"}, timeout=10
    ) as http:
        sent = [chat.send(chat.ada, room["id"], f"keep {n:02}") for n in range(1, count + 1)]
        # Saved newest written first: the oldest message is the one saved last.
        for item in reversed(sent):
            r = http.post(f"/api/messages/{item['id']}/bookmark")
            assert r.status_code == 204, r.text

    bob = chat.tab(browser, "bob")
    open_channel(bob, chat, room["id"])
    bob.page.get_by_role("button", name="Saved messages").click()
    saved = bob.page.get_by_role("complementary", name="Saved messages")
    entries = saved.locator(".panel-entry")
    expect(entries).to_have_count(50)
    expect(entries.first).to_contain_text("keep 01")
    expect(entries.nth(1)).to_contain_text("keep 02")
    saved.get_by_role("button", name="Load more").click()
    expect(entries).to_have_count(count)
    expect(entries.nth(50)).to_contain_text("keep 51")
    expect(entries.last).to_contain_text(f"keep {count}")
    expect(saved.get_by_role("button", name="Load more")).to_have_count(0)
    no_problems(bob)
