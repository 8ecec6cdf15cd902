"""Adding a person from the web client, in real browsers against a real `nchat serve`: the
owner fills the "Add a person" dialog with a generated password (copied to the clipboard), a
taken username is said on its field, the confirmation shows what to hand over and opens a
DM; the new person signs in through the sign-in form with that password. Members do not see
the entry; admins are offered only the roles they may grant, in a dialog that fits 375 px,
and the next person starts from an empty form."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.web.browser import PASSWORD, needs_chromium, new_tab
from tests.web.chat import Chat, message, no_problems, say, sidebar_link

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect

CLIPBOARD = ["clipboard-read", "clipboard-write"]
GENERATED = re.compile(r"^[a-hj-km-np-z2-9]{5}(-[a-hj-km-np-z2-9]{5}){3}$")


def test_the_owner_adds_a_person_who_signs_in_with_the_given_password(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    ada = chat.tab(browser, "ada", permissions=CLIPBOARD)
    page = ada.page
    page.goto(chat.url)
    expect(page.get_by_text("Pick a conversation, or start one:")).to_be_visible()
    # Offered on the welcome a new workspace opens on, and in the channel list.
    nav = page.get_by_role("navigation", name="Conversations")
    expect(nav.get_by_role("button", name="Add a person")).to_be_visible()
    page.get_by_role("main").get_by_role("button", name="Add a person").click()
    dialog = page.get_by_role("dialog", name="Add a person")
    expect(dialog.get_by_label("Email")).to_be_focused()
    # An owner may grant every role; a new person is a member unless chosen otherwise.
    role = dialog.get_by_label("Role")
    expect(role).to_have_value("member")
    expect(role.locator("option")).to_have_text(["Guest", "Member", "Moderator", "Admin", "Owner"])

    dialog.get_by_label("Email").fill("carol@example.com")
    dialog.get_by_label("Username").fill("bob")
    dialog.get_by_label("Display name").fill("Carol Coder")
    dialog.get_by_role("button", name="Generate").click()
    box = dialog.get_by_label("Initial password")
    expect(box).to_have_value(GENERATED)
    password = box.input_value()
    dialog.get_by_role("button", name="Generate").click()
    expect(box).not_to_have_value(password)  # a new one each time
    password = box.input_value()
    dialog.get_by_role("button", name="Copy the password").click()
    expect(dialog.get_by_role("status").filter(has_text="Copied.")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == password
    screenshot(ada, "people-add-dialog")

    # Bob's username is taken: said on the field, not again above the form.
    dialog.get_by_role("button", name="Add person").click()
    username = dialog.get_by_label("Username")
    expect(username).to_have_attribute("aria-invalid", "true")
    expect(username).to_have_accessible_description(re.compile("already taken"))
    expect(dialog.locator(".form-error")).to_have_count(0)
    username.fill("carol")
    dialog.get_by_role("button", name="Add person").click()

    # What to hand over: this server's address, the username and the password.
    handover = dialog.locator("dl.handover")
    expect(handover.locator("dd")).to_have_text([chat.url, "carol", password])
    expect(dialog.get_by_text("Carol Coder can sign in now", exact=False)).to_be_focused()
    dialog.get_by_role("button", name="Copy address, username and password").click()
    expect(dialog.get_by_role("status").filter(has_text="Copied.")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert f"Address: {chat.url}\nUsername: carol\nPassword: {password}" in copied
    screenshot(ada, "people-added")
    users = chat.get("/api/users?q=carol", chat.ada)["users"]
    assert [(u["username"], u["name"], u["role"]) for u in users] == [
        ("carol", "Carol Coder", "member")
    ]

    # A DM with the new person is one click away.
    dialog.get_by_role("button", name="Message Carol Coder").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("heading", level=1)).to_have_text("Carol Coder")
    say(ada, "Welcome aboard, Carol")
    expect(message(ada, "Welcome aboard")).not_to_have_class(re.compile("pending"))

    # Carol signs in through the form with what she was given, in a browser of her own.
    carol = new_tab(browser)
    chat.tabs.append(("carol", carol))
    carol.page.goto(chat.url)
    expect(carol.page.get_by_role("heading", level=1)).to_have_text(re.compile("^Sign in to "))
    carol.page.get_by_label("Username or email").fill("carol")
    carol.page.get_by_label("Password").fill(password)
    carol.page.get_by_role("button", name="Sign in").click()
    nav = carol.page.get_by_role("navigation", name="Conversations")
    expect(nav.get_by_role("heading", name="Channels")).to_be_visible()
    sidebar_link(carol, "Ada Owner").click()
    expect(message(carol, "Welcome aboard")).to_be_visible()
    expect(carol.page.get_by_role("button", name="Add a person")).to_have_count(0)
    # The browser reports the refused username itself; nothing else went wrong.
    no_problems(ada, allow=re.compile(r"status of 409 .*/api/users\)$"))
    no_problems(carol)


def test_only_owners_and_admins_see_the_entry_and_admins_grant_up_to_admin(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    bob = chat.tab(browser, "bob")
    bob.page.goto(chat.url)
    nav = bob.page.get_by_role("navigation", name="Conversations")
    expect(nav.get_by_role("heading", name="Direct messages")).to_be_visible()
    expect(nav.get_by_role("button", name="Browse channels")).to_be_visible()
    expect(bob.page.get_by_role("button", name="Add a person")).to_have_count(0)

    admin = f"admin-{uuid.uuid4().hex[:6]}"
    chat.post(
        "/api/users",
        chat.ada,
        {"email": f"{admin}@example.com", "username": admin, "password": PASSWORD, "role": "admin"},
    )
    narrow = {"viewport": {"width": 375, "height": 740}, "has_touch": True}
    tab = chat.tab(browser, admin, color_scheme="dark", **narrow)
    page = tab.page
    page.goto(chat.url)
    # Loaded: opening the first conversation closes the list, so it is opened after that.
    expect(page.get_by_text("Pick a conversation, or start one:")).to_be_visible()
    page.get_by_role("button", name=re.compile("^Show conversations")).click()
    nav = page.get_by_role("navigation", name="Conversations")
    entry = nav.get_by_role("button", name="Add a person")
    entry.click()
    dialog = page.get_by_role("dialog", name="Add a person")
    role = dialog.get_by_label("Role")
    expect(role.locator("option")).to_have_text(["Guest", "Member", "Moderator", "Admin"])
    role.select_option("moderator")
    expect(role).to_have_accessible_description(re.compile("remove any message"))
    dialog.get_by_role("button", name="Generate").click()
    expect(dialog.get_by_label("Initial password")).to_have_value(GENERATED)
    # Nothing scrolls sideways, in the page or in the dialog.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    assert dialog.evaluate("(el) => el.scrollWidth <= el.clientWidth")
    screenshot(tab, "people-add-dialog-narrow-dark")
    moderator = f"mod-{uuid.uuid4().hex[:6]}"
    dialog.get_by_label("Email").fill(f"{moderator}@example.com")
    dialog.get_by_label("Username").fill(moderator)
    dialog.get_by_role("button", name="Add person").click()
    expect(dialog.locator("dl.handover dd").nth(1)).to_have_text(moderator)
    users = chat.get(f"/api/users?q={moderator}", chat.ada)["users"]
    assert [u["role"] for u in users] == ["moderator"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    # The next person starts from an empty form.
    dialog.get_by_role("button", name="Add another").click()
    expect(dialog.get_by_label("Email")).to_be_focused()
    expect(dialog.get_by_label("Username")).to_have_value("")
    expect(dialog.get_by_label("Role")).to_have_value("member")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(entry).to_be_focused()
    no_problems(bob, tab)
