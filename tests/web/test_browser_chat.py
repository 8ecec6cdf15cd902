"""The chat in real browsers (Debian's Chromium through Playwright) against a real `nchat
serve`: two people in two browser contexts, each signed in with a session of their own.
Messages, unread counts, typing, edits and deletes travel live between them; a DM starts
from "New message"; scrolling back loads older pages with the DOM kept bounded; the narrow
layout; a restart of the server is survived with nothing missed, doubled or lost (a send
written while it was down included). Any console error, page error or CSP violation fails a
test, except the browser's own reports of the refused connections while the server is
down. Screenshots of the main screens go to NCHAT_TEST_ARTIFACTS (or a temporary
directory), named at the end of the run."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.web.browser import needs_chromium
from tests.web.chat import (
    DOWN,
    SEEDED,
    Chat,
    composer,
    message,
    messages,
    no_problems,
    open_channel,
    say,
    seed,
    sidebar_link,
)

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect

# -- tests ---------------------------------------------------------------------------------


def test_messages_unread_typing_edit_and_delete_travel_live(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    live = chat.channel("live", members=(chat.bob,))
    elsewhere = chat.channel("elsewhere", members=(chat.bob,))
    chat.send(chat.bob, live["id"], "Morning all, the *build* is green")
    ada, bob = chat.tab(browser, "ada"), chat.tab(browser, "bob")
    open_channel(ada, chat, live["id"])
    open_channel(bob, chat, elsewhere["id"])
    expect(ada.page.get_by_role("heading", level=1)).to_have_text(f"#{live['name']}")
    # The server's HTML for Markdown: *build* is emphasis, not asterisks.
    expect(message(ada, "Morning all").locator("em")).to_have_text("build")

    # Ada writes; Bob, elsewhere, sees the channel turn unread in his list.
    say(ada, "Hello Bob, the deploy is done")
    expect(message(ada, "Hello Bob")).to_be_visible()
    expect(message(ada, "Hello Bob")).not_to_have_class(re.compile("pending"))
    link = sidebar_link(bob, live["name"])
    expect(link).to_have_class(re.compile(r"\bunread\b"))
    expect(link).to_contain_text("unread message")
    screenshot(bob, "chat-unread-sidebar")

    # Opening it shows the message after the "New messages" line and clears the unread mark.
    link.click()
    expect(bob.page).to_have_url(f"{chat.url}/channels/{live['id']}")
    expect(message(bob, "Hello Bob")).to_be_visible()
    expect(bob.page.locator(".unread-line")).to_be_visible()
    expect(link).not_to_have_class(re.compile(r"\bunread\b"))
    channels = chat.get("/api/channels?member=true", chat.bob)["channels"]
    assert next(c for c in channels if c["id"] == live["id"])["unread_count"] == 0

    # Typing is shown to the other, and goes when the message arrives.
    composer(ada).press_sequentially("Another one")
    expect(bob.page.locator(".typing")).to_have_text("Ada Owner is typing…")
    composer(ada).press("Enter")
    expect(message(bob, "Another one")).to_be_visible()
    expect(bob.page.locator(".typing")).to_have_text("")

    # Live from Bob's side too, grouped under his name once.
    say(bob, "Thanks!")
    expect(message(ada, "Thanks!")).to_be_visible()
    screenshot(ada, "chat")

    # Ada edits from the message's menu (keyboard), Bob sees the new text and "(edited)".
    say(ada, "Typo hre")
    mine = message(ada, "Typo hre")
    expect(mine).not_to_have_class(re.compile("pending"))
    mine.hover()
    menu_button = mine.get_by_role("button", name=re.compile("^Actions for your message"))
    menu_button.focus()
    menu_button.press("Enter")
    expect(ada.page.get_by_role("menuitem", name="Reply in thread")).to_be_focused()
    ada.page.keyboard.press("End")  # Delete, the last; Edit is just above it
    ada.page.keyboard.press("ArrowUp")
    expect(ada.page.get_by_role("menuitem", name="Edit")).to_be_focused()
    screenshot(ada, "chat-message-menu")
    ada.page.keyboard.press("Enter")
    editor = ada.page.get_by_role("textbox", name="Edit message")
    expect(editor).to_be_focused()
    editor.fill("Typo here")
    editor.press("Enter")
    expect(message(bob, "Typo here")).to_contain_text("(edited)")

    # Up in the empty composer edits the last message as well.
    composer(ada).press("ArrowUp")
    editor = ada.page.get_by_role("textbox", name="Edit message")
    expect(editor).to_have_value("Typo here")
    editor.fill("Typo here, fixed twice")
    editor.press("Enter")
    expect(message(bob, "fixed twice")).to_be_visible()

    # Delete asks first; Bob sees the placeholder.
    target = message(ada, "fixed twice")
    target.hover()
    target.get_by_role("button", name=re.compile("^Actions for your message")).click()
    ada.page.get_by_role("menuitem", name="Delete").click()
    confirm = ada.page.get_by_role("dialog", name="Delete message?")
    expect(confirm).to_be_visible()
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    screenshot(ada, "dialog-delete")
    confirm.get_by_role("button", name="Delete").click()
    expect(confirm).to_be_hidden()
    expect(bob.page.locator("li.message.deleted")).to_contain_text("This message was deleted.")
    expect(message(bob, "fixed twice")).to_have_count(0)
    bob.page.emulate_media(color_scheme="dark")
    screenshot(bob, "chat-dark")
    no_problems(ada, bob)


def test_a_dm_starts_from_new_message(chat: Chat, browser: Any, screenshot: Any) -> None:
    somewhere = chat.channel("somewhere", members=(chat.bob,))
    ada, bob = chat.tab(browser, "ada"), chat.tab(browser, "bob")
    open_channel(ada, chat, somewhere["id"])
    open_channel(bob, chat, somewhere["id"])

    ada.page.get_by_role("button", name="New message").click()
    dialog = ada.page.get_by_role("dialog", name="New message")
    expect(dialog.get_by_label("Find people")).to_be_focused()
    dialog.get_by_label("Find people").fill("bob")
    dialog.get_by_role("button", name=re.compile("Bob Builder")).click()
    expect(dialog.get_by_role("list", name="To")).to_contain_text("Bob Builder")
    screenshot(ada, "dialog-new-message")
    dialog.get_by_role("button", name="Start conversation").click()
    expect(dialog).to_be_hidden()
    expect(ada.page.get_by_role("heading", level=1)).to_have_text("Bob Builder")
    say(ada, "Just between us")
    expect(message(ada, "Just between us")).not_to_have_class(re.compile("pending"))

    # Bob's list gains the DM, unread, without a reload; opening it reads it.
    dm = sidebar_link(bob, "Ada Owner")
    expect(dm).to_have_class(re.compile(r"\bunread\b"))
    expect(dm.locator(".badge")).to_have_text("1")
    dm.click()
    expect(message(bob, "Just between us")).to_be_visible()
    expect(dm).not_to_have_class(re.compile(r"\bunread\b"))
    # Ada sees Bob online (presence of DM partners).
    expect(sidebar_link(ada, "Bob Builder").locator(".presence")).to_have_class(
        re.compile(r"\bonline\b")
    )
    no_problems(ada, bob)


def test_scrolling_back_loads_older_pages_and_keeps_the_dom_bounded(
    chat: Chat, browser: Any
) -> None:
    history = chat.channel("history")
    with httpx.Client(
        base_url=chat.url, headers={"Authorization": f"Bearer {chat.ada}"}, timeout=10
    ) as http:
        for n in range(1, SEEDED + 1):
            r = http.post("/api/messages", json={"channel_id": history["id"], "text": f"seed {n}"})
            assert r.status_code == 201, r.text
    ada = chat.tab(browser, "ada")
    open_channel(ada, chat, history["id"])
    expect(message(ada, seed(SEEDED))).to_be_in_viewport()
    assert messages(ada).count() <= 60
    scroller = ada.page.locator(".scroller")

    # Up to the first message, a page at a time; the view stays where it was as each page
    # lands above it.
    pages = 0
    while not message(ada, seed(1)).count():
        top_key = messages(ada).first.get_attribute("data-key")
        scroller.evaluate("el => { el.scrollTop = 0; }")
        ada.page.wait_for_function(
            "(key) => document.querySelector('ol.messages > li.message').dataset.key !== key",
            arg=top_key,
        )
        expect(ada.page.locator(f'[data-key="{top_key}"]')).to_be_in_viewport()
        assert messages(ada).count() <= 300
        pages += 1
        assert pages < 20
    expect(ada.page.get_by_text("This is the very beginning of")).to_be_visible()
    assert messages(ada).count() <= 300
    # The newest were dropped from the DOM: scrolling down fetches them again, a page at a
    # time, and "Jump to latest" goes straight there.
    expect(message(ada, seed(SEEDED))).to_have_count(0)
    bottom_key = messages(ada).last.get_attribute("data-key")
    scroller.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    ada.page.wait_for_function(
        "(key) => [...document.querySelectorAll('ol.messages > li.message')].at(-1).dataset.key"
        " !== key",
        arg=bottom_key,
    )
    expect(ada.page.locator(f'[data-key="{bottom_key}"]')).to_be_in_viewport()
    assert messages(ada).count() <= 300
    ada.page.get_by_role("button", name="Jump to latest").click()
    expect(message(ada, seed(SEEDED))).to_be_in_viewport()
    expect(ada.page.get_by_role("button", name="Jump to latest")).to_be_hidden()
    no_problems(ada)


def test_narrow_screen_dialogs_and_the_channel_switcher(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    first = chat.channel("narrow", members=(chat.bob,))
    second = chat.channel("switch-target", members=(chat.bob,))
    chat.send(chat.ada, first["id"], "A long line " + "without-any-break-" * 20)
    bob = chat.tab(browser, "bob", viewport={"width": 375, "height": 740}, has_touch=True)
    open_channel(bob, chat, first["id"])
    page = bob.page
    expect(message(bob, "A long line")).to_be_visible()
    # Nothing scrolls sideways; the list hides behind a button.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    expect(page.locator("#sidebar")).to_be_hidden()
    screenshot(bob, "narrow-chat")
    toggle = page.get_by_role("button", name=re.compile("^Show conversations"))
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#sidebar")).to_be_visible()
    screenshot(bob, "narrow-sidebar")
    page.keyboard.press("Escape")
    expect(page.locator("#sidebar")).to_be_hidden()

    # Ctrl+K: type, Enter opens; the URL follows and Back returns, with the draft left there.
    composer(bob).fill("half a thought")
    page.keyboard.press("Control+k")
    switcher = page.get_by_role("dialog", name="Jump to a conversation")
    box = switcher.get_by_role("combobox")
    expect(box).to_be_focused()
    box.fill("switch-tar")
    expect(switcher.get_by_role("option")).to_have_count(1)
    box.press("Enter")
    expect(switcher).to_be_hidden()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"#{second['name']}")
    expect(page).to_have_url(f"{chat.url}/channels/{second['id']}")
    expect(composer(bob)).to_have_value("")
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"#{first['name']}")
    expect(composer(bob)).to_have_value("half a thought")
    page.reload()
    expect(composer(bob)).to_have_value("half a thought")

    # Browse channels (Escape closes), then create a private channel.
    toggle.click()
    page.get_by_role("button", name="Browse channels").click()
    browse = page.get_by_role("dialog", name="Browse channels")
    expect(browse.get_by_role("button", name=f"Open #{first['name']}")).to_be_visible()
    screenshot(bob, "narrow-dialog-browse")
    page.keyboard.press("Escape")
    expect(browse).to_be_hidden()
    # Focus is back on the button that opened it, in the list that is still open.
    expect(page.get_by_role("button", name="Browse channels")).to_be_focused()
    page.get_by_role("button", name="Create channel").click()
    create = page.get_by_role("dialog", name="Create a channel")
    name = f"secret-{uuid.uuid4().hex[:6]}"
    create.get_by_label("Name").fill(name)
    create.get_by_label(re.compile("^Private")).check()
    screenshot(bob, "narrow-dialog-create")
    create.get_by_role("button", name="Create channel").click()
    expect(create).to_be_hidden()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"#{name}")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    no_problems(bob)


def test_a_restart_is_survived_without_gaps_doubles_or_lost_sends(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    room = chat.channel("restart", members=(chat.bob,))
    chat.send(chat.bob, room["id"], "before the restart")
    ada, bob = chat.tab(browser, "ada"), chat.tab(browser, "bob")
    open_channel(ada, chat, room["id"])
    open_channel(bob, chat, room["id"])
    expect(message(ada, "before the restart")).to_be_visible()

    chat.stop()
    banner = ada.page.get_by_role("status").filter(has_text="Reconnecting")
    expect(banner).to_be_visible()
    # Written while the server is down: shown at once, waiting, sent once it is back.
    say(ada, "written while down")
    pending = message(ada, "written while down")
    expect(pending).to_have_class(re.compile("pending"))
    expect(pending).to_contain_text("Waiting for the connection")
    screenshot(ada, "chat-reconnecting")

    chat.start()
    # Sent by Bob while Ada's page is still away (or just back): delivered exactly once.
    chat.send(chat.bob, room["id"], "sent meanwhile")
    expect(message(ada, "sent meanwhile")).to_be_visible(timeout=30_000)
    expect(message(ada, "written while down")).not_to_have_class(re.compile("pending"))
    expect(banner).to_be_hidden()
    expect(message(bob, "written while down")).to_be_visible(timeout=30_000)
    for tab in (ada, bob):
        for text in ("before the restart", "sent meanwhile", "written while down"):
            expect(message(tab, text)).to_have_count(1)
    texts = chat.texts(room["id"])
    assert texts.count("written while down") == 1
    assert texts.count("sent meanwhile") == 1
    # One more each way: the sockets are live again.
    say(bob, "after the restart")
    expect(message(ada, "after the restart")).to_have_count(1)
    no_problems(ada, bob, allow=DOWN)


def test_a_send_while_the_browser_is_offline_goes_once_it_is_back(chat: Chat, browser: Any) -> None:
    room = chat.channel("offline", members=(chat.bob,))
    ada = chat.tab(browser, "ada")
    open_channel(ada, chat, room["id"])
    ada.page.context.set_offline(True)
    expect(ada.page.get_by_role("status").filter(has_text="You are offline")).to_be_visible()
    say(ada, "queued offline")
    say(ada, "queued second")
    expect(message(ada, "queued offline")).to_contain_text("Waiting for the connection")
    # Bob writes meanwhile; Ada gets it on the way back, in order with her own.
    chat.send(chat.bob, room["id"], "while Ada was away")
    ada.page.context.set_offline(False)
    expect(message(ada, "while Ada was away")).to_have_count(1)
    expect(message(ada, "queued second")).not_to_have_class(re.compile("pending"))
    expect(ada.page.locator("li.message.pending")).to_have_count(0)
    texts = chat.texts(room["id"])
    assert texts.count("queued offline") == 1 and texts.count("queued second") == 1
    # Sent in the order written.
    assert texts.index("queued second") < texts.index("queued offline")  # newest first
    no_problems(ada, allow=DOWN)
