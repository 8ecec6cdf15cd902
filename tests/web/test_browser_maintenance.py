"""Maintenance mode in the web client, in a real browser against a real `nchat serve`: the
banner appears live when an admin turns it on through the API, a page opened meanwhile
shows it from the start, the composer says writing is paused, and all of it goes when
maintenance mode ends (a send works again)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.web.browser import needs_chromium
from tests.web.chat import Chat, composer, message, no_problems, open_channel, say

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect

PATH = "/api/admin/maintenance"
NOTE = "Upgrading to 2.0: back in a minute."


def switch(chat: Chat, method: str, body: dict[str, Any] | None = None) -> None:
    response = httpx.request(
        method,
        f"{chat.url}{PATH}",
        json=body,
        headers={"Authorization": f"Bearer {chat.ada}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_the_banner_comes_and_goes_live(chat: Chat, browser: Any, screenshot: Any) -> None:
    channel = chat.channel("upgrade", members=(chat.bob,))
    bob = chat.tab(browser, "bob")
    open_channel(bob, chat, channel["id"])
    banner = bob.page.locator(".maintenance-banner")
    expect(banner).to_have_count(0)

    try:
        switch(chat, "PUT", {"message": NOTE, "retry_after_s": 30})
        expect(banner).to_be_visible()
        expect(banner).to_have_attribute("role", "alert")
        expect(banner).to_contain_text(NOTE)
        expect(composer(bob)).to_have_count(0)
        expect(bob.page.get_by_text("Writing is paused")).to_be_visible()
        screenshot(bob, "maintenance-banner")

        # A page opened meanwhile knows from its first hello.
        ada = chat.tab(browser, "ada")
        ada.page.goto(f"{chat.url}/channels/{channel['id']}")
        expect(ada.page.locator(".maintenance-banner")).to_contain_text(NOTE)
        expect(ada.page.get_by_text("Writing is paused")).to_be_visible()
    finally:
        switch(chat, "DELETE")

    expect(banner).to_have_count(0)
    expect(ada.page.locator(".maintenance-banner")).to_have_count(0)
    expect(composer(bob)).to_be_visible()
    say(bob, "back to work")
    expect(message(bob, "back to work")).to_be_visible()
    expect(message(ada, "back to work")).to_be_visible()
    no_problems(bob, ada)
