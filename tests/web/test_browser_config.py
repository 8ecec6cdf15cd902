"""The app configuration reaches an open web client live, in a real browser against a real
`nchat serve`: when an admin turns search off, the search field goes at once (and the
shortcut opens nothing); a new name and accent apply without a reload; turning search on
brings the field back."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.web.browser import needs_chromium
from tests.web.chat import Chat, no_problems, open_channel

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect

ACCENT_IS = """
(want) => getComputedStyle(document.documentElement).getPropertyValue("--accent").trim() === want
"""


def patch_config(chat: Chat, changes: dict[str, Any]) -> None:
    r = httpx.patch(
        f"{chat.url}/api/admin/config",
        json=changes,
        headers={"Authorization": f"Bearer {chat.ada}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


def test_search_name_and_accent_follow_the_configuration_live(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    channel = chat.channel("settings-live", members=(chat.bob,))
    bob = chat.tab(browser, "bob")
    page = bob.page
    open_channel(bob, chat, channel["id"])
    search = page.get_by_role("search", name="Messages")
    expect(search).to_be_visible()
    before = {"branding": {"app_name": "Acme Chat"}, "theme": {"accent": "#2f6fed"}}
    try:
        patch_config(
            chat,
            {
                "features": {"search": False},
                "branding": {"app_name": "Live Name"},
                "theme": {"accent": "#c2255c"},
            },
        )
        expect(search).to_have_count(0)
        expect(page).to_have_title(re.compile("Live Name$"))
        expect(page.locator("#sidebar .brand")).to_have_text("Live Name")
        page.keyboard.press("Control+Shift+F")
        expect(page.locator("#search-panel-q")).to_have_count(0)
        # The light theme's accent is the colour as set (the dark one is lightened).
        page.emulate_media(color_scheme="light")
        page.wait_for_function(ACCENT_IS, arg="#c2255c", timeout=15_000)
        screenshot(bob, "config-search-off")
    finally:
        patch_config(chat, {"features": {"search": True}, **before})
    expect(search).to_be_visible()
    expect(page).to_have_title(re.compile("Acme Chat$"))
    no_problems(bob)
