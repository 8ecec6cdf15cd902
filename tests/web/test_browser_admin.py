"""The administration pages' shell, Overview, Users and Maintenance, and the page of a
password-reset link, in real browsers against a real `nchat serve`: Ada (the owner) opens
Administration from the channel list; the overview shows the numbers the test made; a new
account is created, found, deactivated (its open tab is signed out), reactivated, given
another role, its password reset (the temporary password signs in) and deleted; the
server's refusals are said in words; maintenance mode goes on (Bob's tab shows the banner)
and off; Escape and Back lead to the chat; Bob, a member, sees no way in. Each screen is
checked for accessibility at 1280 and 375 px (tests/web/a11y.py)."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from nchat.admin_users.service import reset_token
from nchat.config import load_or_create_secret
from tests.web.a11y import problems
from tests.web.browser import PASSWORD, Tab, needs_chromium, new_tab
from tests.web.chat import Chat, composer, no_problems, open_channel

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect

WIDE: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}}
NARROW = {"width": 375, "height": 740}
SIGN_IN = re.compile("^Sign in to ")
NOTE = "Moving to the new database: back in five minutes."


def accessible(tab: Tab, name: str, screenshot: Any) -> list[str]:
    """The accessibility findings of the screen as shown, at 1280 and at 375 px."""
    screenshot(tab, f"admin-{name}")
    found = [f"{name}, wide: {p}" for p in problems(tab)]
    tab.page.set_viewport_size(NARROW)
    screenshot(tab, f"admin-{name}-narrow")
    found += [f"{name}, narrow: {p}" for p in problems(tab)]
    tab.page.set_viewport_size(WIDE["viewport"])
    return found


def open_admin(tab: Tab, chat: Chat) -> None:
    """From the chat, by the channel list's Administration link."""
    tab.page.goto(chat.url)
    tab.page.locator("#sidebar").get_by_role("link", name="Administration").click()
    expect(
        tab.page.get_by_role("heading", level=1, name=re.compile("^Administration"))
    ).to_be_visible()


def section(tab: Tab, name: str) -> None:
    tab.page.get_by_role("navigation", name="Administration sections").get_by_role(
        "link", name=name
    ).click()
    expect(tab.page.get_by_role("heading", level=2, name=name)).to_be_visible()


def row(tab: Tab, name: str) -> Any:
    return tab.page.locator("table.admin-table tbody tr", has_text=name)


def cell(of: Any, label: str) -> Any:
    return of.locator(f'[data-label="{label}"]')


def act(tab: Tab, name: str, action: str) -> None:
    row(tab, name).get_by_role("button", name=f"Actions for {name}").click()
    tab.page.get_by_role("menuitem", name=action).click()


def signin_status(chat: Chat, login: str, password: str) -> int:
    body = {"login": login, "password": password}
    return httpx.post(f"{chat.url}/api/auth/signin", json=body, timeout=10).status_code


def admin_get(chat: Chat, path: str) -> Any:
    return chat.get(path, chat.ada)


def make_member(chat: Chat, prefix: str) -> dict[str, Any]:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    return dict(chat.post("/api/users", chat.ada, {**body, "display_name": name.title()}))


def test_the_overview_shows_the_numbers(chat: Chat, browser: Any, screenshot: Any) -> None:
    # The module's server is new: these are its only messages and its only file.
    room = chat.channel("stats", members=(chat.bob,))
    for n in range(7):
        chat.send(chat.bob if n % 2 else chat.ada, room["id"], f"counted {n}")
    chat.upload(chat.ada, "report.bin", b"x" * 5000)
    stats = admin_get(chat, "/api/admin/stats")
    assert stats["messages_per_day"][-1]["count"] == 7
    assert stats["storage"] == {"files_bytes": 5000, "files": 1}

    ada = chat.tab(browser, "ada", **WIDE)
    open_admin(ada, chat)
    page = ada.page
    expect(page).to_have_url(re.compile(r"#/admin/overview$"))
    expect(page.get_by_role("heading", level=2, name="Overview")).to_be_visible()

    def figure(label: str) -> Any:
        return page.locator(".admin-stat", has=page.locator("dt", has_text=label))

    users = stats["users"]
    expect(figure("Active today").locator(".admin-stat-value")).to_have_text(
        str(users["active_1d"])
    )
    expect(figure("Active this week").locator(".admin-stat-value")).to_have_text(
        str(users["active_7d"])
    )
    expect(figure("Accounts").locator(".admin-stat-value")).to_have_text(str(users["total"]))
    assert users["total"] == 2 and users["active_1d"] == 2
    expect(figure("Storage used")).to_contain_text("4.9 KB")
    expect(figure("Storage used")).to_contain_text("1 file")
    expect(figure("Open connections").locator(".admin-stat-value")).to_have_text(
        re.compile(r"^\d+$")
    )
    # The chart is an image named by its caption and summary, and a table says the same.
    chart = page.get_by_role("img", name=re.compile("^Messages per day"))
    expect(chart).to_have_accessible_name(re.compile("7 messages from .* at most 7 a day"))
    expect(page.locator(".admin-chart rect.admin-bar")).to_have_count(30)
    page.get_by_text("The numbers as a table").click()
    today = page.locator(".admin-chart-table tbody tr").last
    expect(today.locator("td")).to_have_text("7")
    found = accessible(ada, "overview", screenshot)
    assert found == [], "\n".join(found)
    no_problems(ada)


def test_managing_an_account(chat: Chat, browser: Any, screenshot: Any) -> None:
    ada = chat.tab(browser, "ada", **WIDE)
    page = ada.page
    open_admin(ada, chat)
    section(ada, "Users")
    found = accessible(ada, "users", screenshot)

    # Ada's own row says so and offers nothing.
    mine = row(ada, "Ada Owner")
    expect(mine).to_contain_text("(you)")
    expect(mine.get_by_role("button")).to_have_count(0)

    # A new account.
    name = f"carol-{uuid.uuid4().hex[:6]}"
    page.get_by_role("button", name="New account").click()
    form = page.get_by_role("dialog", name="New account")
    form.get_by_label("Email").fill(f"{name}@example.com")
    form.get_by_label("Username").fill(name)
    form.get_by_label("Display name").fill("Carol Tester")
    form.get_by_label("Role").select_option("member")
    form.get_by_label("Initial password").fill(PASSWORD)
    found += accessible(ada, "new-account", screenshot)
    form.get_by_role("button", name="Create account").click()
    expect(form).to_contain_text("can sign in now")
    form.get_by_role("button", name="Done").click()
    expect(form).to_have_count(0)

    # Found by search, alone.
    page.get_by_role("searchbox", name="Search").fill(name)
    expect(page.locator("table.admin-table tbody tr")).to_have_count(1)
    carol = row(ada, "Carol Tester")
    expect(cell(carol, "Role")).to_have_text("Member")
    expect(cell(carol, "State")).to_have_text("Active")

    # Deactivated: her open tab is signed out, and she cannot sign in.
    theirs = chat.tab(browser, name, **WIDE)
    theirs.page.goto(chat.url)
    expect(
        theirs.page.get_by_role("heading", level=1, name="Welcome, Carol Tester")
    ).to_be_visible()
    act(ada, "Carol Tester", "Deactivate…")
    confirm = page.get_by_role("dialog", name="Deactivate Carol Tester?")
    found += accessible(ada, "confirm", screenshot)
    confirm.get_by_role("button", name="Deactivate").click()
    expect(cell(carol, "State")).to_have_text("Deactivated")
    expect(page.locator(".admin-said")).to_have_text("Carol Tester is deactivated.")
    expect(theirs.page.get_by_role("heading", level=1, name=SIGN_IN)).to_be_visible()
    assert signin_status(chat, name, PASSWORD) in (401, 403)
    # The filter by state finds her among the deactivated only.
    page.get_by_label("State").select_option("true")
    expect(page.get_by_text("Nobody matches.")).to_be_visible()
    page.get_by_label("State").select_option("false")
    expect(cell(carol, "State")).to_have_text("Deactivated")
    page.get_by_label("State").select_option("")
    # And by role and when last seen (her tab was open a moment ago).
    page.get_by_label("Role", exact=True).select_option("owner")
    expect(page.get_by_text("Nobody matches.")).to_be_visible()
    page.get_by_label("Role", exact=True).select_option("member")
    expect(carol).to_have_count(1)
    page.get_by_label("Last seen").select_option("not30d")
    expect(page.get_by_text("Nobody matches.")).to_be_visible()
    page.get_by_label("Last seen").select_option("1d")
    expect(carol).to_have_count(1)

    act(ada, "Carol Tester", "Reactivate…")
    page.get_by_role("dialog").get_by_role("button", name="Reactivate").click()
    expect(cell(carol, "State")).to_have_text("Active")
    assert signin_status(chat, name, PASSWORD) == 200

    # Another role.
    act(ada, "Carol Tester", "Change role…")
    dialog = page.get_by_role("dialog", name="Role of Carol Tester")
    dialog.get_by_label("Role").select_option("moderator")
    dialog.get_by_role("button", name="Change role").click()
    expect(cell(carol, "Role")).to_have_text("Moderator")
    listed = admin_get(chat, f"/api/admin/users?q={name}")["users"]
    assert [u["role"] for u in listed] == ["moderator"]

    # A temporary password, shown once, signs in.
    act(ada, "Carol Tester", "Reset password…")
    page.get_by_role("dialog").get_by_role("button", name="Reset password").click()
    shown = page.get_by_role("dialog", name="Password of Carol Tester")
    secret = shown.locator("code.admin-secret")
    expect(secret).to_have_text(re.compile(r"^\S{12,}$"))
    expect(shown.get_by_role("button", name="Copy the temporary password")).to_be_visible()
    found += accessible(ada, "temporary-password", screenshot)
    temporary = secret.inner_text()
    shown.get_by_role("button", name="Done").click()
    assert signin_status(chat, name, temporary) == 200
    assert signin_status(chat, name, PASSWORD) == 401

    # Deleted and anonymised: the row goes.
    act(ada, "Carol Tester", "Delete…")
    dialog = page.get_by_role("dialog", name="Delete Carol Tester")
    expect(dialog).to_contain_text("Deleted user")
    dialog.get_by_label(re.compile("^Anonymise")).check()
    dialog.get_by_role("button", name="Delete account").click()
    expect(carol).to_have_count(0)
    expect(page.locator(".admin-said")).to_contain_text("deleted and anonymised")
    assert signin_status(chat, name, temporary) == 401
    assert found == [], "\n".join(found)
    no_problems(ada)
    no_problems(theirs, allow=re.compile(r"status of 401 .*/api/auth/refresh\)$"))


def test_refusals_are_said_in_words(chat: Chat, browser: Any) -> None:
    gone = make_member(chat, "gone")
    ada = chat.tab(browser, "ada", **WIDE)
    page = ada.page
    page.goto(f"{chat.url}/#/admin/users")
    page.get_by_role("searchbox", name="Search").fill(gone["username"])
    expect(page.locator("table.admin-table tbody tr")).to_have_count(1)
    # Deleted meanwhile by someone else.
    r = httpx.delete(
        f"{chat.url}/api/admin/users/{gone['id']}",
        headers={"Authorization": f"Bearer {chat.ada}"},
        timeout=10,
    )
    assert r.status_code == 204, r.text
    act(ada, gone["name"], "End all sessions…")
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="End sessions").click()
    expect(dialog.get_by_role("alert")).to_have_text("This person no longer exists.")
    dialog.get_by_role("button", name="Cancel").click()

    # An admin cannot manage another admin: no actions, said why.
    peer = make_member(chat, "peer")
    chat.post(f"/api/admin/users/{peer['id']}/role", chat.ada, {"role": "admin"})
    other = make_member(chat, "other")
    chat.post(f"/api/admin/users/{other['id']}/role", chat.ada, {"role": "admin"})
    theirs = chat.tab(browser, peer["username"], **WIDE)
    theirs.page.goto(f"{chat.url}/#/admin/users")
    theirs.page.get_by_role("searchbox", name="Search").fill(other["username"])
    expect(row(theirs, other["name"])).to_contain_text("Same role as yours or higher")
    expect(row(theirs, other["name"]).get_by_role("button")).to_have_count(0)
    no_problems(ada, allow=re.compile(r"status of 404 .*/revoke-sessions\)$"))
    no_problems(theirs)


def test_maintenance_on_and_off(chat: Chat, browser: Any, screenshot: Any) -> None:
    room = chat.channel("upkeep", members=(chat.bob,))
    bob = chat.tab(browser, "bob", **WIDE)
    open_channel(bob, chat, room["id"])
    banner = bob.page.locator(".maintenance-banner")
    ada = chat.tab(browser, "ada", **WIDE)
    page = ada.page
    open_admin(ada, chat)
    section(ada, "Maintenance")
    expect(page.locator(".admin-state")).to_contain_text("Maintenance mode is off")
    found = accessible(ada, "maintenance-off", screenshot)
    try:
        page.get_by_label("Message shown to everyone").fill(NOTE)
        page.get_by_label("Owners and admins may still make changes").check()
        page.get_by_label("Clients retry after (seconds)").fill("60")
        page.get_by_role("button", name="Turn on…").click()
        page.get_by_role("dialog", name="Turn maintenance mode on?").get_by_role(
            "button", name="Turn on"
        ).click()
        expect(page.locator(".admin-state")).to_contain_text("Maintenance mode is on")
        expect(page.locator(".admin-terms")).to_contain_text("60 seconds")
        expect(banner).to_contain_text(NOTE)
        expect(page.locator(".maintenance-banner")).to_contain_text("Admins may still make changes")
        state = admin_get(chat, "/api/admin/maintenance")
        assert state["enabled"] and state["allow_admins"] and state["retry_after_s"] == 60
        found += accessible(ada, "maintenance-on", screenshot)
        screenshot(bob, "admin-maintenance-bob")

        page.get_by_role("button", name="Turn off…").click()
        page.get_by_role("dialog", name="Turn maintenance mode off?").get_by_role(
            "button", name="Turn off"
        ).click()
        expect(page.locator(".admin-state")).to_contain_text("Maintenance mode is off")
        expect(banner).to_have_count(0)
        expect(composer(bob)).to_be_visible()
    finally:
        httpx.delete(
            f"{chat.url}/api/admin/maintenance",
            headers={"Authorization": f"Bearer {chat.ada}"},
            timeout=10,
        )
    assert found == [], "\n".join(found)
    no_problems(ada, bob)


def test_escape_and_back_lead_to_the_chat(chat: Chat, browser: Any) -> None:
    room = chat.channel("return")
    ada = chat.tab(browser, "ada", **WIDE)
    page = ada.page
    open_channel(ada, chat, room["id"])
    admin = page.get_by_role("navigation", name="Administration sections")
    page.locator("#sidebar").get_by_role("link", name="Administration").click()
    expect(admin).to_be_visible()
    page.keyboard.press("Escape")
    expect(composer(ada)).to_be_visible()
    expect(page).to_have_url(f"{chat.url}/channels/{room['id']}")

    # Sections replace each other: Back from any of them is the chat.
    page.locator("#sidebar").get_by_role("link", name="Administration").click()
    section(ada, "Users")
    section(ada, "Maintenance")
    expect(page).to_have_url(f"{chat.url}/channels/{room['id']}#/admin/maintenance")
    page.go_back()
    expect(composer(ada)).to_be_visible()
    expect(admin).to_have_count(0)
    page.go_forward()
    expect(page.get_by_role("heading", level=2, name="Maintenance")).to_be_visible()
    page.get_by_role("button", name="Back to chat").click()
    expect(composer(ada)).to_be_visible()

    # A reload at an admin address opens it there; its way back is the chat.
    page.goto(f"{chat.url}/channels/{room['id']}#/admin/users")
    expect(page.get_by_role("heading", level=2, name="Users")).to_be_visible()
    page.get_by_role("button", name="Back to chat").click()
    expect(composer(ada)).to_be_visible()
    no_problems(ada)


def test_a_member_sees_no_administration(chat: Chat, browser: Any) -> None:
    bob = chat.tab(browser, "bob", **WIDE)
    page = bob.page
    page.goto(f"{chat.url}/#/admin/users")
    expect(page.get_by_role("alert")).to_contain_text("for owners and admins only")
    expect(page.locator("#sidebar")).to_be_visible()
    expect(page.locator("#sidebar").get_by_role("link", name="Administration")).to_have_count(0)
    expect(page.get_by_role("heading", name=re.compile("^Administration"))).to_have_count(0)
    assert "#/admin" not in page.url
    page.evaluate("location.hash = '#/admin/maintenance'")
    expect(page.get_by_role("alert")).to_contain_text("for owners and admins only")
    expect(page.locator(".admin")).to_have_count(0)
    expect(page).not_to_have_url(re.compile("#/admin"))
    no_problems(bob)


def _token(chat: Chat, user_id: str) -> str:
    """A reset link's token as the server makes it (its secret is in its data dir)."""
    url = make_url(chat.env["NCHAT_DATABASE_URL"]).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False)) as conn:
        found = conn.execute(
            "SELECT id, password_hash FROM nchat_users WHERE id = %s", (user_id,)
        ).fetchone()
    assert found is not None
    secret = load_or_create_secret(Path(chat.env["NCHAT_DATA_DIR"]))
    user = {"id": found[0], "password_hash": found[1]}
    return reset_token(user, int(time.time()) + 600, secret=secret)  # type: ignore[arg-type]


def test_the_password_reset_page(chat: Chat, browser: Any, screenshot: Any) -> None:
    dan = make_member(chat, "dan")
    token = _token(chat, dan["id"])
    tab = new_tab(browser, **WIDE)
    chat.tabs.append(("signed out", tab))
    page = tab.page
    page.goto(f"{chat.url}/#/reset-password/{token}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    found = accessible(tab, "reset-password", screenshot)

    page.get_by_label("New password", exact=True).fill("a fresh passphrase")
    page.get_by_label("The same again").fill("something else")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_text("The two passwords differ.")).to_be_visible()
    page.get_by_label("The same again").fill("a fresh passphrase")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your password is changed")
    assert signin_status(chat, dan["username"], "a fresh passphrase") == 200
    assert signin_status(chat, dan["username"], PASSWORD) == 401

    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(SIGN_IN)
    assert "reset-password" not in page.url
    page.get_by_label("Username or email").fill(dan["username"])
    page.get_by_label("Password").fill("a fresh passphrase")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name=re.compile("^Welcome"))).to_be_visible()

    # The link works once.
    again = new_tab(browser, **WIDE)
    chat.tabs.append(("signed out", again))
    again.page.goto(f"{chat.url}/#/reset-password/{token}")
    again.page.get_by_label("New password", exact=True).fill("yet another passphrase")
    again.page.get_by_label("The same again").fill("yet another passphrase")
    again.page.get_by_role("button", name="Set password").click()
    expect(again.page.get_by_role("alert")).to_have_text(re.compile("not valid or has expired"))
    assert found == [], "\n".join(found)
    # The refused request is the browser's to report (a 400 in the console).
    no_problems(tab)
    no_problems(again, allow=re.compile("status of 400"))
