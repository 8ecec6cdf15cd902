"""Profile and settings in real browsers against a real `nchat serve`: a new name and status
reach the others on new messages; a password change signs out the user's other sessions
(their open tab too) and the new password signs in; one session signed out from the list;
light and dark chosen, kept across a reload, the same tokens as the system's dark; the
workspace's accent colour, default theme and name from the app configuration. Each test
has a person of its own, so a change of name or password leaves the others as they were."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.web.browser import PASSWORD, Tab, needs_chromium
from tests.web.chat import Chat, message, no_problems, open_channel, say

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect

NEW_PASSWORD = "another long passphrase"
SIGN_IN = re.compile("^Sign in to ")
# The tokens css/app.css gives each theme, as the browser computes them.
TOKENS = """
(names) => {
  const style = getComputedStyle(document.documentElement);
  return Object.fromEntries(names.map((name) => [name, style.getPropertyValue(name).trim()]));
}
"""
# The declarations of the dark theme's two rules: the system's (in its media query) and the
# user's choice (data-theme), which must agree.
DARK_RULES = """
() => {
  const found = {};
  const take = (rule) => {
    const declared = {};
    for (const name of rule.style) declared[name] = rule.style.getPropertyValue(name).trim();
    found[rule.selectorText] = declared;
  };
  for (const sheet of document.styleSheets) {
    for (const rule of sheet.cssRules) {
      if (rule.media && rule.conditionText === "(prefers-color-scheme: dark)") {
        for (const inner of rule.cssRules) take(inner);
      } else if (rule.selectorText === ':root[data-theme="dark"]') {
        take(rule);
      }
    }
  }
  return found;
}
"""


def person(chat: Chat, prefix: str) -> dict[str, Any]:
    """A new member, signed in with the tests' password."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    body = {
        "username": name,
        "email": f"{name}@example.com",
        "display_name": prefix.title(),
        "password": PASSWORD,
    }
    return dict(chat.post("/api/users", chat.ada, body))


def patch_config(chat: Chat, changes: dict[str, Any]) -> None:
    r = httpx.patch(
        f"{chat.url}/api/admin/config",
        json=changes,
        headers={"Authorization": f"Bearer {chat.ada}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


@pytest.fixture
def workspace_theme(chat: Chat) -> Iterator[None]:
    """The test may change the workspace's theme; it is the default again afterwards."""
    yield
    patch_config(chat, {"theme": {"mode": "system", "accent": "#2f6fed"}})


def signed_in(tab: Tab) -> None:
    """The chat is shown (the welcome, or the channel it went on to)."""
    expect(tab.page.get_by_role("button", name="Profile and settings")).to_be_visible()


def open_settings(tab: Tab) -> Any:
    tab.page.get_by_role("button", name="Profile and settings").click()
    dialog = tab.page.get_by_role("dialog", name="Profile and settings")
    expect(dialog).to_be_visible()
    return dialog


def sign_in(tab: Tab, login: str, password: str) -> None:
    tab.page.get_by_label("Username or email").fill(login)
    tab.page.get_by_label("Password").fill(password)
    tab.page.get_by_role("button", name="Sign in").click()


def status(chat: Chat, login: str, password: str) -> int:
    body = {"login": login, "password": password}
    return httpx.post(f"{chat.url}/api/auth/signin", json=body, timeout=10).status_code


# -- tests ---------------------------------------------------------------------------------


def test_a_new_name_and_status_reach_the_others(chat: Chat, browser: Any, screenshot: Any) -> None:
    cleo = person(chat, "cleo")
    channel = chat.channel("profile", members=(chat.bob,))
    chat.post(f"/api/channels/{channel['id']}/members", chat.ada, {"user_ids": [cleo["id"]]})
    mine, bob = chat.tab(browser, cleo["username"]), chat.tab(browser, "bob")
    open_channel(mine, chat, channel["id"])
    open_channel(bob, chat, channel["id"])
    say(mine, "Before the change")
    expect(message(bob, "Before the change")).to_contain_text("Cleo")

    dialog = open_settings(mine)
    expect(dialog.get_by_role("heading", name="Profile", level=3)).to_be_visible()
    screenshot(mine, "settings")
    name = dialog.get_by_label("Display name")
    expect(name).to_have_value("Cleo")
    name.fill("Cleo Renamed")
    dialog.get_by_label("Status").fill("On holiday until Monday")
    dialog.get_by_role("button", name="Save profile").click()
    expect(dialog.get_by_role("status").filter(has_text="Profile saved.")).to_be_visible()
    mine.page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(mine.page.locator(".sidebar-foot")).to_contain_text("Cleo Renamed")

    say(mine, "After the change")
    expect(message(bob, "After the change")).to_contain_text("Cleo Renamed")
    seen = chat.get(f"/api/users/{cleo['id']}", chat.bob)
    assert (seen["name"], seen["status_text"]) == ("Cleo Renamed", "On holiday until Monday")

    # Opened again, the dialog shows what was saved; on a narrow screen, nothing runs over.
    dialog = open_settings(mine)
    expect(dialog.get_by_label("Status")).to_have_value("On holiday until Monday")
    mine.page.set_viewport_size({"width": 375, "height": 740})
    body = dialog.locator(".settings-body")
    body.evaluate("(el) => (el.scrollTop = el.scrollHeight)")
    expect(dialog.get_by_role("radio", name="Dark")).to_be_in_viewport()
    assert body.evaluate("(el) => el.scrollWidth <= el.clientWidth")
    assert mine.page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(mine, "settings-narrow")
    no_problems(mine, bob)


def test_a_new_password_signs_out_the_other_sessions(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    dora = person(chat, "dora")
    login = dora["username"]
    here, there = chat.tab(browser, login), chat.tab(browser, login)
    for tab in (here, there):
        tab.page.goto(chat.url)
        expect(tab.page.get_by_role("heading", name="Welcome, Dora", level=1)).to_be_visible()
    # A third session, from a program: signed out from the list.
    script = httpx.post(
        f"{chat.url}/api/auth/signin",
        json={"login": login, "password": PASSWORD},
        headers={"User-Agent": "backup-script/1.0"},
        timeout=10,
    ).json()

    dialog = open_settings(here)
    sessions = dialog.locator(".session-list > li")
    expect(sessions).to_have_count(3)
    expect(sessions.filter(has_text="This session")).to_have_count(1)
    scripted = sessions.filter(has_text="backup-script/1.0")
    scripted.get_by_role("button", name=re.compile("^Sign out")).click()
    expect(sessions).to_have_count(2)
    refreshed = httpx.post(
        f"{chat.url}/api/auth/refresh", json={"refresh_token": script["refresh_token"]}, timeout=10
    )
    assert refreshed.status_code == 401

    # A wrong current password is said at its field; nothing changes.
    dialog.get_by_label("Current password").fill("not my password")
    dialog.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    dialog.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    dialog.get_by_role("button", name="Change password").click()
    expect(dialog.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")
    expect(dialog).to_contain_text("The current password is incorrect")
    # The two new ones must agree (checked here, before asking the server).
    dialog.get_by_label("Current password").fill(PASSWORD)
    dialog.get_by_label("Confirm new password").fill(NEW_PASSWORD + "!")
    dialog.get_by_role("button", name="Change password").click()
    expect(dialog.get_by_label("Confirm new password")).to_have_attribute("aria-invalid", "true")

    dialog.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    dialog.get_by_role("button", name="Change password").click()
    done = dialog.get_by_role("status").filter(has_text="Password changed.")
    expect(done).to_contain_text("other sessions were signed out")
    expect(sessions).to_have_count(1)
    expect(dialog.get_by_label("Current password")).to_have_value("")
    screenshot(here, "settings-password-changed")

    # The other tab is signed out at once (its socket was closed); the new password works.
    expect(there.page.get_by_role("heading", name=SIGN_IN, level=1)).to_be_visible()
    sign_in(there, login, NEW_PASSWORD)
    expect(there.page.get_by_role("heading", name="Welcome, Dora", level=1)).to_be_visible()
    assert status(chat, login, PASSWORD) == 401
    assert status(chat, login, NEW_PASSWORD) == 200
    # This tab is still signed in, after a reload too.
    here.page.reload()
    expect(here.page.get_by_role("heading", name="Welcome, Dora", level=1)).to_be_visible()

    # The browser reports the refused requests themselves: the wrong password's 403 here,
    # the ended session's 401 on refresh there.
    no_problems(here, allow=re.compile(r"status of 403 .*/api/users/me/password"))
    no_problems(there, allow=re.compile(r"status of 401 .*/api/auth/refresh"))


def test_theme_choice_applies_and_is_kept(chat: Chat, browser: Any, screenshot: Any) -> None:
    tab = chat.tab(browser, "bob")
    page = tab.page
    page.goto(chat.url)
    signed_in(tab)
    html = page.locator("html")
    # Nothing chosen: the system's light.
    expect(html).not_to_have_attribute("data-theme", re.compile("."))
    light = page.evaluate(TOKENS, ["--bg", "--text", "--surface"])

    # The dark theme's two rules hold the same tokens, so the choice and the system agree.
    rules = page.evaluate(DARK_RULES)
    system, chosen = rules[':root:not([data-theme="light"])'], rules[':root[data-theme="dark"]']
    chosen.pop("color-scheme", None)
    assert system == chosen and len(system) > 10

    dialog = open_settings(tab)
    appearance = dialog.get_by_role("group", name="Theme")
    expect(appearance.get_by_role("radio", name=re.compile("^System"))).to_be_checked()
    appearance.get_by_role("radio", name="Dark").check()
    expect(html).to_have_attribute("data-theme", "dark")
    dark = page.evaluate(TOKENS, ["--bg", "--text", "--surface"])
    assert dark["--bg"] == system["--bg"] and dark != light
    assert page.evaluate("getComputedStyle(document.documentElement).colorScheme") == "dark"
    screenshot(tab, "settings-dark")

    # Kept across a reload, applied before the chat is drawn.
    page.reload()
    signed_in(tab)
    expect(html).to_have_attribute("data-theme", "dark")
    assert page.evaluate(TOKENS, ["--bg"])["--bg"] == dark["--bg"]

    # Light wins over a dark system; System follows it again.
    page.emulate_media(color_scheme="dark")
    dialog = open_settings(tab)
    dialog.get_by_role("radio", name="Light").check()
    expect(html).to_have_attribute("data-theme", "light")
    assert page.evaluate(TOKENS, ["--bg"])["--bg"] == light["--bg"]
    dialog.get_by_role("radio", name=re.compile("^System")).check()
    expect(html).not_to_have_attribute("data-theme", re.compile("."))
    assert page.evaluate(TOKENS, ["--bg"])["--bg"] == dark["--bg"]
    no_problems(tab)


@pytest.mark.usefixtures("workspace_theme")
def test_accent_default_theme_and_name_from_the_configuration(chat: Chat, browser: Any) -> None:
    patch_config(chat, {"theme": {"accent": "#C2255C", "mode": "dark"}})
    tab = chat.tab(browser, "bob")
    page = tab.page
    page.goto(chat.url)
    signed_in(tab)
    expect(page.locator("#sidebar .brand")).to_have_text("Acme Chat")
    expect(page).to_have_title(re.compile("Acme Chat$"))
    # The workspace's default theme, since Bob chose none here; its accent, made lighter
    # where text of it must read on the dark surface.
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "dark")
    dark_accent = page.evaluate(TOKENS, ["--accent"])["--accent"]
    assert re.fullmatch(r"#[0-9a-f]{6}", dark_accent) and dark_accent != "#c2255c"

    dialog = open_settings(tab)
    expect(dialog).to_contain_text("default applies: Dark")
    dialog.get_by_role("radio", name="Light").check()
    expect(html).to_have_attribute("data-theme", "light")
    assert page.evaluate(TOKENS, ["--accent", "--accent-text"]) == {
        "--accent": "#c2255c",
        "--accent-text": "#ffffff",
    }
    button = dialog.get_by_role("button", name="Save profile")
    expect(button).to_have_css("background-color", "rgb(194, 37, 92)")

    # Anything but #rrggbb is refused, and the accent set before stays.
    r = httpx.patch(
        f"{chat.url}/api/admin/config",
        json={"theme": {"accent": "red; background: url(/x)"}},
        headers={"Authorization": f"Bearer {chat.ada}"},
        timeout=10,
    )
    assert r.status_code == 422, r.text
    page.reload()
    signed_in(tab)
    expect(html).to_have_attribute("data-theme", "light")
    assert page.evaluate(TOKENS, ["--accent"]) == {"--accent": "#c2255c"}
    no_problems(tab)
