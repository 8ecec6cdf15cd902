"""Completion in the composer, in a real browser against a real `nchat serve`: `@` offers
people (and @channel, @here in channels, not in DMs), `#` channels, `:` emoji; the arrows
move, Enter or Tab inserts what the server renders (a mention, a channel, the emoji), Enter
with the list open does not send, Escape closes the list and keeps the text. The text is
the list's ARIA owner: aria-autocomplete, aria-controls and aria-activedescendant."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.browser import Tab, needs_chromium
from tests.web.chat import Chat, composer, message, messages, no_problems, open_channel

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect


def options(tab: Tab) -> Any:
    return tab.page.get_by_role("listbox").get_by_role("option")


def active_option(tab: Tab) -> Any:
    """The option the text names as its active descendant."""
    active = composer(tab).get_attribute("aria-activedescendant")
    assert active, "no active option"
    return tab.page.locator(f"[id='{active}']")


def test_a_mention_completes_and_renders(chat: Chat, browser: Any, screenshot: Any) -> None:
    channel = chat.channel("mentions", members=(chat.bob,))
    ada = chat.tab(browser, "ada")
    open_channel(ada, chat, channel["id"])
    box = composer(ada)
    expect(box).to_have_attribute("aria-autocomplete", "list")

    box.press_sequentially("Look @bo")
    listbox = ada.page.get_by_role("listbox", name="People")
    expect(listbox).to_be_visible()
    expect(box).to_have_attribute("aria-controls", listbox.get_attribute("id") or "")
    expect(options(ada).first).to_contain_text("Bob Builder")
    expect(active_option(ada)).to_have_attribute("aria-selected", "true")
    screenshot(ada, "composer-completion")

    # Enter takes the option: nothing is sent.
    box.press("Enter")
    expect(box).to_have_value("Look @bob ")
    expect(listbox).to_be_hidden()
    expect(box).not_to_have_attribute("aria-activedescendant", re.compile("."))
    assert chat.texts(channel["id"]) == []

    box.press_sequentially("and @cha")
    expect(options(ada)).to_have_text([re.compile("^@channel")])
    box.press("Tab")
    expect(box).to_have_value("Look @bob and @channel ")
    box.press("Enter")
    sent = message(ada, "Look")
    expect(sent.locator(".mention[data-user-id]")).to_have_text("@bob")
    expect(sent.locator(".mention-group")).to_have_text("@channel")
    assert chat.texts(channel["id"]) == ["Look @bob and @channel"]
    no_problems(ada)


def test_channels_and_emoji_complete_and_escape_closes(chat: Chat, browser: Any) -> None:
    channel = chat.channel("completing", members=(chat.bob,))
    other = chat.channel("elsewhere-target")
    ada = chat.tab(browser, "ada")
    open_channel(ada, chat, channel["id"])
    box = composer(ada)

    box.press_sequentially(f"See #{other['name'][:-3]}")
    expect(options(ada).first).to_have_text(f"#{other['name']}")
    box.press("Enter")
    expect(box).to_have_value(f"See #{other['name']} ")

    # Two letters after a colon: emoji whose names start so; the arrows move.
    box.press_sequentially("party :tad")
    expect(options(ada).first).to_contain_text("🎉")
    box.press("ArrowDown")
    box.press("ArrowUp")
    expect(active_option(ada)).to_contain_text(":tada:")
    box.press("Enter")
    expect(box).to_have_value(f"See #{other['name']} party 🎉 ")

    # Escape closes the list and keeps the text; more letters do not open it again.
    box.press_sequentially("@bo")
    listbox = ada.page.get_by_role("listbox")
    expect(listbox).to_be_visible()
    box.press("Escape")
    expect(listbox).to_be_hidden()
    box.press_sequentially("b")
    expect(box).to_have_value(f"See #{other['name']} party 🎉 @bob")
    expect(listbox).to_be_hidden()
    # Closed, Enter sends again.
    box.press("Enter")
    sent = message(ada, "party")
    expect(sent.locator(".channel[data-channel-id]")).to_have_text(f"#{other['name']}")
    expect(sent).to_contain_text("🎉")
    expect(box).to_have_value("")
    # A time is no shortcode.
    box.press_sequentially("at 10:30")
    expect(listbox).to_be_hidden()
    box.fill("")
    no_problems(ada)


def test_a_dm_offers_people_but_not_the_whole_channel(chat: Chat, browser: Any) -> None:
    dm = chat.post("/api/channels/direct", chat.ada, {"user_ids": [chat.bob_id]})
    ada = chat.tab(browser, "ada")
    open_channel(ada, chat, dm["id"])
    box = composer(ada)
    box.press_sequentially("@")
    expect(options(ada).filter(has_text="Bob Builder")).to_have_count(1)
    expect(options(ada).filter(has_text=re.compile("^@(channel|here)"))).to_have_count(0)
    # Ada is not offered to herself.
    expect(options(ada).filter(has_text="Ada Owner")).to_have_count(0)
    before = messages(ada).count()
    box.press("Enter")
    expect(box).to_have_value("@bob ")
    assert messages(ada).count() == before
    no_problems(ada)
