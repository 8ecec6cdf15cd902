"""Avatars in real browsers against a real `nchat serve`: Ana uploads a picture in Settings
(refused first when it is not a picture, by the page and by the server), and Bob, in a
browser of his own, sees it without reloading beside her message, on their DM in his list
and in completion; removing it brings her initials back for both."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.web.browser import PASSWORD, Tab, needs_chromium
from tests.web.chat import (
    Chat,
    composer,
    message,
    no_problems,
    open_channel,
    png,
    say,
    sidebar_link,
)

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect

AVATAR_URL = re.compile(r"^/api/users/[0-9a-f-]{36}/avatar/[0-9a-f-]{36}$")
# The image is loaded and is the server's square, not a broken image.
LOADED = "(img) => img.complete && img.naturalWidth === 256 && img.naturalHeight === 256"


def open_settings(tab: Tab) -> Any:
    tab.page.get_by_role("button", name="Profile and settings").click()
    dialog = tab.page.get_by_role("dialog", name="Profile and settings")
    expect(dialog).to_be_visible()
    return dialog


def pick(tab: Tab, dialog: Any, name: str, mime: str, data: bytes) -> None:
    with tab.page.expect_file_chooser() as chooser:
        dialog.get_by_role("button", name="Upload picture").click()
    chooser.value.set_files({"name": name, "mimeType": mime, "buffer": data})


def loaded(tab: Tab, image: Any) -> None:
    expect(image).to_have_attribute("src", AVATAR_URL)
    tab.page.wait_for_function(LOADED, arg=image.element_handle())


def test_a_picture_reaches_the_others_live_and_goes_again(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    login = f"ana-{uuid.uuid4().hex[:6]}"
    ana = chat.post(
        "/api/users",
        chat.ada,
        {
            "username": login,
            "email": f"{login}@example.com",
            "display_name": "Ana Lima",
            "password": PASSWORD,
        },
    )
    channel = chat.channel("avatars", members=(chat.bob,))
    chat.post(f"/api/channels/{channel['id']}/members", chat.ada, {"user_ids": [ana["id"]]})
    chat.post("/api/channels/direct", chat.bob, {"user_ids": [ana["id"]]})
    mine, bob = chat.tab(browser, login), chat.tab(browser, "bob")
    open_channel(mine, chat, channel["id"])
    open_channel(bob, chat, channel["id"])
    say(mine, "Hello from Ana")
    seen = message(bob, "Hello from Ana")
    expect(seen.locator(".gutter span.avatar")).to_have_text("AL")
    dm = sidebar_link(bob, "Ana Lima")
    expect(dm.locator("span.avatar")).to_have_text("AL")

    dialog = open_settings(mine)
    expect(dialog.get_by_role("button", name="Remove picture")).to_have_count(0)
    # Not a picture: said by the page before anything is sent, then by the server for a
    # file whose type says image but whose bytes do not.
    pick(mine, dialog, "notes.txt", "text/plain", b"just notes")
    expect(dialog.get_by_role("alert")).to_have_text("Choose a PNG, JPEG, GIF or WebP image.")
    pick(mine, dialog, "fake.png", "image/png", b"not really a png")
    expect(dialog.get_by_role("alert")).to_contain_text("must be a PNG, JPEG, GIF or WebP")

    pick(mine, dialog, "ana.png", "image/png", png(600, 400, (40, 160, 90)))
    expect(dialog.get_by_role("status").filter(has_text="Picture saved.")).to_be_visible()
    expect(dialog.get_by_role("alert")).to_have_count(0)
    loaded(mine, dialog.locator(".settings-who img.avatar"))
    url = dialog.locator(".settings-who img.avatar").get_attribute("src")
    screenshot(mine, "settings-picture")
    mine.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    loaded(mine, mine.page.locator(".sidebar-foot img.avatar"))
    loaded(mine, message(mine, "Hello from Ana").locator(".gutter img.avatar"))

    # Bob did not reload: user.updated brought it, beside her message and on their DM.
    loaded(bob, seen.locator(".gutter img.avatar"))
    expect(seen.locator(".gutter img.avatar")).to_have_attribute("src", url or "")
    loaded(bob, dm.locator("img.avatar"))
    composer(bob).press_sequentially(f"@{login[:6]}")
    option = bob.page.get_by_role("listbox", name="People").get_by_role("option").first
    expect(option).to_contain_text("Ana Lima")
    loaded(bob, option.locator("img.avatar"))
    screenshot(bob, "avatars")
    composer(bob).press("Escape")
    composer(bob).fill("")

    dialog = open_settings(mine)
    dialog.get_by_role("button", name="Remove picture").click()
    expect(dialog.get_by_role("status").filter(has_text="Picture removed.")).to_be_visible()
    expect(dialog.locator(".settings-who span.avatar")).to_have_text("AL")
    expect(dialog.get_by_role("button", name="Remove picture")).to_have_count(0)
    expect(seen.locator(".gutter span.avatar")).to_have_text("AL")
    expect(seen.locator("img.avatar")).to_have_count(0)
    expect(dm.locator("span.avatar")).to_have_text("AL")
    no_problems(mine, bob, allow=re.compile(r"status of 415 .*/api/users/me/avatar\)$"))
