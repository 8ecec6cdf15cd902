"""Threads, reactions, pins, saved messages and edit history in real browsers: Ada and Bob,
each in a browser context of their own, against a real `nchat serve`. A reply travels live
into the other's open thread panel and the root's reply count follows; edits, deletes and
reactions on replies too. Typing in a thread shows in that thread's panel, not under the
channel. A reaction added through the picker shows for the other, and
pressing a chip takes it back. A pin shows in both people's pins panels, a saved message
in the saved panel, and "(edited)" lists the earlier text. Any console error, page error
or CSP violation fails a test."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.web.browser import Tab, needs_chromium
from tests.web.chat import Chat, composer, message, messages, no_problems, open_channel

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect


def choose(tab: Tab, target: Any, item: str) -> None:
    """Pick `item` from the menu of the message `target`."""
    target.hover()
    target.get_by_role("button", name=re.compile("^Actions for")).click()
    tab.page.get_by_role("menuitem", name=item, exact=True).click()


def panel(tab: Tab, name: str) -> Any:
    return tab.page.get_by_role("complementary", name=name)


def in_panel(tab: Tab, text: str) -> Any:
    """The messages of the open thread panel whose text has `text`."""
    return (
        panel(tab, "Thread")
        .locator("li.message")
        .filter(has=tab.page.locator(".message-body", has_text=text))
    )


def chip(scope: Any, name: str) -> Any:
    return scope.get_by_role("button", name=name, exact=True)


def edit(chat: Chat, token: str, message_id: str, text: str) -> None:
    r = httpx.put(
        f"{chat.url}/api/messages/{message_id}",
        json={"text": text},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


# -- tests ---------------------------------------------------------------------------------


def test_thread_replies_travel_live_into_the_open_panel(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    room = chat.channel("threads", members=(chat.bob,))
    chat.send(chat.ada, room["id"], "Release plan for Friday")
    ada, bob = chat.tab(browser, "ada"), chat.tab(browser, "bob", color_scheme="dark")
    open_channel(ada, chat, room["id"])
    open_channel(bob, chat, room["id"])

    # Bob replies from the message's menu: the panel opens with its composer focused.
    choose(bob, message(bob, "Release plan"), "Reply in thread")
    thread = panel(bob, "Thread")
    expect(thread).to_be_visible()
    reply_box = thread.get_by_role("textbox", name="Reply in thread")
    expect(reply_box).to_be_focused()
    reply_box.fill("I can take the deploy")
    reply_box.press("Enter")
    expect(in_panel(bob, "I can take the deploy")).not_to_have_class(re.compile("pending"))

    # Ada sees the count on the root, and the reply is not in the channel itself.
    summary = message(ada, "Release plan").locator("button.thread-summary")
    expect(summary).to_contain_text("1 reply")
    expect(messages(ada)).to_have_count(1)
    summary.click()
    expect(in_panel(ada, "I can take the deploy")).to_be_visible()
    expect(panel(ada, "Thread").locator(".thread-divider")).to_have_text("1 reply")

    # Live both ways into the open panels, and the root's count follows in the channel.
    reply_box.fill("Done by noon")
    reply_box.press("Enter")
    expect(in_panel(ada, "Done by noon")).to_be_visible()
    expect(summary).to_contain_text("2 replies")
    ada_box = panel(ada, "Thread").get_by_role("textbox", name="Reply in thread")
    ada_box.fill("Thanks, Bob")
    ada_box.press("Enter")
    expect(in_panel(bob, "Thanks, Bob")).to_be_visible()
    expect(message(bob, "Release plan").locator("button.thread-summary")).to_contain_text(
        "3 replies"
    )

    # A reaction on a reply, through the picker, reaches the other's panel.
    choose(ada, in_panel(ada, "Done by noon"), "Add reaction")
    picker = ada.page.get_by_role("dialog", name="Add reaction")
    expect(picker.get_by_role("combobox", name="Search emoji")).to_be_focused()
    picker.get_by_role("combobox", name="Search emoji").press("Enter")  # 👍, the first
    expect(picker).to_be_hidden()
    expect(chip(in_panel(bob, "Done by noon"), "👍 1 reaction; press to add yours")).to_be_visible()
    screenshot(ada, "thread-panel")
    screenshot(bob, "thread-panel-dark")

    # Bob edits his last reply with Up in the thread's composer; Ada sees it.
    reply_box.press("ArrowUp")
    editor = thread.get_by_role("textbox", name="Edit message")
    expect(editor).to_have_value("Done by noon")
    editor.fill("Done by 11")
    editor.press("Enter")
    expect(in_panel(ada, "Done by 11")).to_contain_text("(edited)")
    expect(reply_box).to_be_focused()

    # And deletes his first reply, after the question; the count goes down for Ada.
    choose(bob, in_panel(bob, "I can take the deploy"), "Delete")
    confirm = bob.page.get_by_role("dialog", name="Delete message?")
    confirm.get_by_role("button", name="Delete").click()
    expect(panel(ada, "Thread").get_by_text("This message was deleted.")).to_be_visible()
    expect(summary).to_contain_text("2 replies")

    # Escape closes the panel; focus goes back where it was.
    ada.page.keyboard.press("Escape")
    expect(panel(ada, "Thread")).to_be_hidden()
    expect(summary).to_be_focused()
    no_problems(ada, bob)


def test_typing_in_a_thread_shows_in_its_panel_not_under_the_channel(
    chat: Chat, browser: Any
) -> None:
    room = chat.channel("thread-typing", members=(chat.bob,))
    chat.send(chat.ada, room["id"], "Who reviews the draft?")
    ada, bob = chat.tab(browser, "ada"), chat.tab(browser, "bob")
    open_channel(ada, chat, room["id"])
    open_channel(bob, chat, room["id"])
    choose(ada, message(ada, "Who reviews"), "Reply in thread")
    choose(bob, message(bob, "Who reviews"), "Reply in thread")
    in_thread = panel(bob, "Thread").locator(".typing")
    in_channel = bob.page.locator("main .typing")

    # Ada writes a reply: Bob sees it in the thread; the channel, already told by then
    # (one signal), says nothing.
    box = panel(ada, "Thread").get_by_role("textbox", name="Reply in thread")
    box.press_sequentially("Me, after lunch")
    expect(in_thread).to_have_text("Ada Owner is typing…")
    expect(in_channel).to_have_text("")
    # The reply ends it.
    box.press("Enter")
    expect(in_panel(bob, "Me, after lunch")).to_be_visible()
    expect(in_thread).to_have_text("")

    # Writing in the channel shows under the channel, not in the thread.
    composer(ada).press_sequentially("Thanks")
    expect(in_channel).to_have_text("Ada Owner is typing…")
    expect(in_thread).to_have_text("")
    no_problems(ada, bob)


def test_reactions_from_the_picker_and_chips_that_toggle(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    room = chat.channel("reactions", members=(chat.bob,))
    chat.send(chat.bob, room["id"], "The new logo is ready")
    ada, bob = chat.tab(browser, "ada"), chat.tab(browser, "bob")
    open_channel(ada, chat, room["id"])
    open_channel(bob, chat, room["id"])

    # Ada searches the picker and moves with the arrows; Escape closes only the picker.
    choose(ada, message(ada, "new logo"), "Add reaction")
    picker = ada.page.get_by_role("dialog", name="Add reaction")
    search = picker.get_by_role("combobox", name="Search emoji")
    expect(picker.get_by_role("option")).to_have_count(12)
    search.press("ArrowRight")
    expect(picker.get_by_role("option", selected=True)).to_have_accessible_name("red heart")
    search.press("Escape")
    expect(picker).to_be_hidden()

    choose(ada, message(ada, "new logo"), "Add reaction")
    search.fill(":tada")
    expect(picker.get_by_role("option").first).to_have_accessible_name("party popper")
    screenshot(ada, "reaction-picker")
    search.press("Enter")
    expect(picker).to_be_hidden()

    # Each sees the count, and whether it includes them, in the chip's name.
    mine = "🎉 1 reaction, including you; press to remove yours"
    expect(chip(message(ada, "new logo"), mine)).to_be_visible()
    theirs = chip(message(bob, "new logo"), "🎉 1 reaction; press to add yours")
    expect(theirs).to_be_visible()
    theirs.click()
    expect(
        chip(message(ada, "new logo"), "🎉 2 reactions, including you; press to remove yours")
    ).to_be_visible()

    # Pressing one's own chip takes the reaction back, for everyone.
    chip(message(ada, "new logo"), "🎉 2 reactions, including you; press to remove yours").click()
    bobs = chip(message(bob, "new logo"), mine)
    expect(bobs).to_be_visible()
    expect(chip(message(ada, "new logo"), "🎉 1 reaction; press to add yours")).to_be_visible()
    bobs.click()
    expect(message(ada, "new logo").locator("button.reaction:not(.add-reaction)")).to_have_count(0)
    expect(message(bob, "new logo").locator(".reactions")).to_have_count(0)
    no_problems(ada, bob)


def test_pins_saved_messages_and_edit_history(chat: Chat, browser: Any, screenshot: Any) -> None:
    room = chat.channel("pins", members=(chat.bob,))
    sent = chat.send(chat.ada, room["id"], "Standup moves to 9:30")
    edit(chat, chat.ada, sent["id"], "Standup moves to 9:45")
    chat.send(chat.bob, room["id"], "Noted")
    ada, bob = chat.tab(browser, "ada"), chat.tab(browser, "bob")
    open_channel(ada, chat, room["id"])
    open_channel(bob, chat, room["id"])

    # Ada's pins panel is open (empty) when Bob pins: it shows there, and the marker too.
    ada.page.get_by_role("button", name="Pinned messages").click()
    pins = panel(ada, "Pinned messages")
    expect(pins).to_contain_text("Nothing is pinned here yet")
    choose(bob, message(bob, "Standup"), "Pin")
    expect(pins.locator(".panel-entry")).to_have_count(1)
    expect(pins.locator(".panel-entry")).to_contain_text("Standup moves to 9:45")
    expect(message(ada, "Standup").locator(".pinned-note")).to_have_text("Pinned")
    bob.page.get_by_role("button", name="Pinned messages").click()
    expect(panel(bob, "Pinned messages").locator(".panel-entry")).to_contain_text("Standup")
    screenshot(ada, "pins-panel")

    # Saving: the menu then offers to remove it, and the saved panel lists it.
    choose(ada, message(ada, "Noted"), "Save")
    ada.page.get_by_role("button", name="Saved messages").click()
    saved = panel(ada, "Saved messages")
    expect(saved.locator(".panel-entry")).to_have_count(1)
    expect(saved.locator(".panel-entry")).to_contain_text(f"in #{room['name']}")
    saved.get_by_role("button", name=re.compile("^Jump to Bob Builder.s message")).click()
    expect(message(ada, "Noted")).to_be_in_viewport()
    choose(ada, message(ada, "Noted"), "Remove from saved")
    expect(saved.locator(".panel-entry")).to_have_count(0)
    expect(saved).to_contain_text("No saved messages")

    # "(edited)" opens the versions, oldest first, with their times.
    edited = message(bob, "Standup").get_by_role("button", name=re.compile(r"^\(edited\)"))
    edited.click()
    history = bob.page.get_by_role("dialog", name="Edit history")
    versions = history.locator(".history-list > li")
    expect(versions).to_have_count(2)
    expect(versions.nth(0)).to_contain_text("Original")
    expect(versions.nth(0)).to_contain_text("Standup moves to 9:30")
    expect(versions.nth(1)).to_contain_text("Current")
    expect(versions.nth(1)).to_contain_text("Standup moves to 9:45")
    expect(versions.nth(0).locator("time")).to_have_attribute("datetime", sent["created_at"])
    bob.page.keyboard.press("Escape")
    expect(history).to_be_hidden()
    expect(edited).to_be_focused()
    expect(panel(bob, "Pinned messages")).to_be_visible()  # Escape closed the dialog only

    # Unpinning from the panel takes it off both lists.
    ada.page.get_by_role("button", name="Pinned messages").click()
    pins.get_by_role("button", name=re.compile("^Unpin")).click()
    expect(pins).to_contain_text("Nothing is pinned here yet")
    expect(panel(bob, "Pinned messages").locator(".panel-entry")).to_have_count(0)
    expect(message(bob, "Standup").locator(".pinned-note")).to_have_count(0)
    no_problems(ada, bob)


def test_narrow_screen_thread_and_picker(chat: Chat, browser: Any, screenshot: Any) -> None:
    room = chat.channel("narrow", members=(chat.bob,))
    root = chat.send(chat.ada, room["id"], "Lunch at one?")
    chat.post(
        "/api/messages",
        chat.ada,
        {"channel_id": room["id"], "thread_id": root["id"], "text": "Pizza place on the corner"},
    )
    bob = chat.tab(browser, "bob", viewport={"width": 375, "height": 740}, has_touch=True)
    page = bob.page
    open_channel(bob, chat, room["id"])
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    # The panel covers the screen; Close gives the conversation back.
    message(bob, "Lunch").locator("button.thread-summary").click()
    thread = panel(bob, "Thread")
    expect(in_panel(bob, "Pizza place")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    choose(bob, in_panel(bob, "Pizza place"), "Add reaction")
    picker = page.get_by_role("dialog", name="Add reaction")
    expect(picker.get_by_role("option")).to_have_count(12)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(bob, "narrow-reaction-picker")
    picker.get_by_role("option").nth(1).click()
    expect(
        chip(in_panel(bob, "Pizza place"), re.compile("^❤️ 1 reaction, including you"))
    ).to_be_visible()
    screenshot(bob, "narrow-thread-panel")
    thread.get_by_role("button", name="Close").click()
    expect(thread).to_be_hidden()
    expect(message(bob, "Lunch")).to_be_visible()
    no_problems(bob)
