"""The web client's screens checked for accessibility in a real browser, from Chromium's own
accessibility tree (tests/web/a11y.py): every control and image named, landmarks told
apart, one main and an h1, no sideways scrolling, a visible focus ring. Each screen is
checked at 1280 px and at 375 px wide (a touch screen): signing in, the first-run setup,
a channel with reactions, a thread, a pin and files, a message's menu, the thread, search,
pins and files panels, the channel list's overlay, and the settings, reaction, Ctrl+K and
browse dialogs; the channel and a dialog in the dark theme too. All of a width's findings
are reported together, each named by its screen. Any console error, page error or CSP
violation fails a test."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.processes import Server, nchat_env, serving, throwaway_database
from tests.web.a11y import focus_problems, problems
from tests.web.browser import Tab, needs_chromium, new_tab
from tests.web.chat import Chat, composer, message, no_problems, open_channel, png

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect

WIDE: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
NARROW: dict[str, Any] = {"viewport": {"width": 375, "height": 740}, "has_touch": True}
WIDTHS: dict[str, dict[str, Any]] = {"wide": WIDE, "narrow": NARROW}


class Screens:
    """Checks screen after screen of one tab, keeping every finding with its screen's name
    and a screenshot of each."""

    def __init__(self, tab: Tab, prefix: str, screenshot: Any) -> None:
        self.tab = tab
        self.prefix = prefix
        self.screenshot = screenshot
        self.found: list[str] = []

    def check(self, name: str) -> None:
        self.screenshot(self.tab, f"a11y-{self.prefix}-{name}")
        self.found += [f"{name}: {problem}" for problem in problems(self.tab)]

    def close_with_escape(self, gone: Any) -> None:
        self.tab.page.keyboard.press("Escape")
        expect(gone).to_be_hidden()


def furnished(chat: Chat) -> dict[str, Any]:
    """A channel with something of everything a message can carry: reactions (one Ada's),
    a thread, a pin, an image and a text file."""
    room = chat.channel("a11y", members=(chat.bob,))
    root = chat.send(chat.bob, room["id"], "The quokka report is ready for review")
    chat.post(f"/api/messages/{root['id']}/reactions", chat.ada, {"emoji": "👍"})
    chat.post(f"/api/messages/{root['id']}/reactions", chat.bob, {"emoji": "🎉"})
    reply = {"channel_id": room["id"], "text": "Reading it now", "thread_id": root["id"]}
    chat.post("/api/messages", chat.ada, reply)
    pinned = chat.send(chat.ada, room["id"], "The quokka rota for next week")
    chat.post(f"/api/messages/{pinned['id']}/pin", chat.ada, {})
    files = [
        chat.upload(chat.ada, "chart.png", png(320, 200))["id"],
        chat.upload(chat.ada, "notes.txt", b"Minutes\n")["id"],
    ]
    body = {"channel_id": room["id"], "text": "Minutes and the chart", "file_ids": files}
    chat.post("/api/messages", chat.ada, body)
    return room


def panel(tab: Tab, name: str) -> Any:
    return tab.page.get_by_role("complementary", name=name)


def dialog(tab: Tab, name: str) -> Any:
    return tab.page.get_by_role("dialog", name=name)


def from_the_list(tab: Tab, narrow: bool, name: str) -> None:
    """Press `name` in the channel list (on a narrow screen, shown over the conversation)."""
    if narrow and not tab.page.locator("#sidebar").is_visible():
        tab.page.get_by_role("button", name=re.compile("^Show conversations")).click()
    tab.page.locator("#sidebar").get_by_role("button", name=name).click()


def walk_the_chat(tab: Tab, chat: Chat, room: dict[str, Any], narrow: bool, at: Screens) -> None:
    page = tab.page
    open_channel(tab, chat, room["id"])
    files = message(tab, "Minutes and the chart")
    expect(files.locator("img.thumbnail")).to_have_attribute("data-loaded", "true")
    expect(message(tab, "quokka rota")).to_contain_text("Pinned")
    at.check("channel")

    root = message(tab, "quokka report")
    actions = root.get_by_role("button", name=re.compile("^Actions for"))
    if not narrow:
        root.hover()
    actions.click()
    expect(page.get_by_role("menu")).to_be_visible()
    at.check("message-menu")
    at.close_with_escape(page.get_by_role("menu"))

    root.locator("button.thread-summary").click()
    expect(panel(tab, "Thread").locator("li.message")).to_have_count(2)
    at.check("thread-panel")
    at.close_with_escape(panel(tab, "Thread"))

    if narrow:
        page.get_by_role("button", name="Search messages").click()
        field = panel(tab, "Search").get_by_role("searchbox", name="Search messages")
    else:
        field = page.locator("#search-box-q")
    field.fill(f"quokka in:#{room['name']}")
    field.press("Enter")
    expect(panel(tab, "Search").locator(".search-hit")).to_have_count(2)
    at.check("search-panel")
    at.close_with_escape(panel(tab, "Search"))

    page.get_by_role("button", name="Pinned messages").click()
    expect(panel(tab, "Pinned messages").locator(".panel-entry")).to_have_count(1)
    at.check("pins-panel")
    at.close_with_escape(panel(tab, "Pinned messages"))

    page.get_by_role("button", name="Files", exact=True).click()
    expect(panel(tab, "Files")).to_contain_text("notes.txt")
    at.check("files-panel")
    at.close_with_escape(panel(tab, "Files"))

    if narrow:
        page.get_by_role("button", name=re.compile("^Show conversations")).click()
        expect(page.locator("#sidebar")).to_be_visible()
        # Checked where it stops, not while it slides in.
        page.wait_for_function(
            "() => document.getElementById('sidebar').getBoundingClientRect().left >= 0"
        )
        at.check("channel-list")
        at.close_with_escape(page.locator("#sidebar"))

    root.get_by_role("button", name="Add reaction").click()
    expect(dialog(tab, "Add reaction").get_by_role("option").first).to_be_visible()
    at.check("reaction-picker")
    at.close_with_escape(dialog(tab, "Add reaction"))

    composer(tab).focus()
    page.keyboard.press("Control+k")
    expect(page.get_by_role("dialog")).to_be_visible()
    at.check("channel-switcher")
    at.close_with_escape(page.get_by_role("dialog"))

    from_the_list(tab, narrow, "Browse channels")
    expect(dialog(tab, "Browse channels").locator(".channel-results li").first).to_be_visible()
    at.check("browse-channels")
    at.close_with_escape(dialog(tab, "Browse channels"))

    from_the_list(tab, narrow, "Profile and settings")
    expect(page.get_by_role("dialog")).to_be_visible()
    at.check("settings")
    at.close_with_escape(page.get_by_role("dialog"))


# -- tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize("width", ["wide", "narrow"])
def test_the_chat_screens(chat: Chat, browser: Any, screenshot: Any, width: str) -> None:
    room = furnished(chat)
    ada = chat.tab(browser, "ada", **WIDTHS[width])
    at = Screens(ada, width, screenshot)
    walk_the_chat(ada, chat, room, width == "narrow", at)
    assert at.found == [], "\n".join(at.found)
    no_problems(ada)


def test_the_dark_theme(chat: Chat, browser: Any, screenshot: Any) -> None:
    room = furnished(chat)
    ada = chat.tab(browser, "ada", color_scheme="dark", **WIDE)
    at = Screens(ada, "dark", screenshot)
    open_channel(ada, chat, room["id"])
    expect(message(ada, "Minutes and the chart").locator("img.thumbnail")).to_have_attribute(
        "data-loaded", "true"
    )
    at.check("channel")
    from_the_list(ada, False, "Profile and settings")
    expect(ada.page.get_by_role("dialog")).to_be_visible()
    at.check("settings")
    assert at.found == [], "\n".join(at.found)
    no_problems(ada)


@pytest.mark.parametrize("width", ["wide", "narrow"])
def test_signing_in(chat: Chat, browser: Any, screenshot: Any, width: str) -> None:
    tab = new_tab(browser, **WIDTHS[width])
    chat.tabs.append(("signed out", tab))
    tab.page.goto(chat.url)
    expect(tab.page.get_by_role("heading", level=1)).to_have_text(re.compile("^Sign in to "))
    at = Screens(tab, width, screenshot)
    at.check("sign-in")
    assert at.found == [], "\n".join(at.found)
    no_problems(tab)


@pytest.fixture
def fresh(server_url: str, tmp_path: Any) -> Iterator[Server]:
    """A `nchat serve` with no owner yet: it shows the setup form."""
    with (
        throwaway_database(server_url) as url,
        serving(nchat_env(tmp_path / "data", url), tmp_path / "serve.log") as running,
    ):
        running.wait_healthy()
        yield running


def test_the_setup_form(fresh: Server, browser: Any, screenshot: Any) -> None:
    found = []
    for width, options in WIDTHS.items():
        tab = new_tab(browser, **options)
        tab.page.goto(fresh.url)
        expect(tab.page.get_by_role("heading", level=1)).to_have_text("Set up nchat")
        at = Screens(tab, width, screenshot)
        at.check("setup")
        found += at.found
        no_problems(tab)
    assert found == [], "\n".join(found)


@pytest.mark.parametrize("width", ["wide", "narrow"])
def test_focus_is_visible(chat: Chat, browser: Any, width: str) -> None:
    room = furnished(chat)
    ada = chat.tab(browser, "ada", **WIDTHS[width])
    open_channel(ada, chat, room["id"])
    page = ada.page
    # From the top of the page: the channel list (or its toggle) and the header.
    page.evaluate("document.activeElement?.blur()")
    found = focus_problems(ada, 12)
    # From the composer backwards: the messages' own controls.
    composer(ada).focus()
    found += focus_problems(ada, 8, key="Shift+Tab")
    # In a panel and in a dialog.
    message(ada, "quokka report").locator("button.thread-summary").click()
    expect(panel(ada, "Thread").locator("li.message")).to_have_count(2)
    found += focus_problems(ada, 8)
    page.keyboard.press("Escape")
    from_the_list(ada, width == "narrow", "Profile and settings")
    expect(page.get_by_role("dialog")).to_be_visible()
    found += focus_problems(ada, 10)
    assert found == [], "\n".join(found)
    no_problems(ada)


# What the check must find, made in a page: an unnamed button and image, a link inside
# aria-hidden, two navigations of
# one name, the h1 gone, a page wider than the window, a control without a focus ring.
BREAK = """() => {
  const add = (tag, props = {}) =>
    document.body.appendChild(Object.assign(document.createElement(tag), props));
  const dot = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";
  add("button", { className: "probe-unnamed" });
  const unsaid = add("div");
  unsaid.setAttribute("aria-hidden", "true");
  unsaid.append(Object.assign(document.createElement("a"), { href: "/", textContent: "Unsaid" }));
  add("img", { className: "probe-image", src: dot });
  add("img", { className: "probe-decorative", alt: "", src: dot });
  add("nav").setAttribute("aria-label", "Twice");
  add("nav").setAttribute("aria-label", "Twice");
  const second = Object.assign(document.createElement("h2"), { textContent: "Not first" });
  document.querySelector("h1").replaceWith(second);
  Object.assign(add("div").style, { width: "2000px", height: "1px" });
  add("button", { className: "probe-no-ring", textContent: "No ring" }).style.outline = "none";
  document.activeElement?.blur();
}"""


def test_the_check_finds_what_it_looks_for(chat: Chat, browser: Any) -> None:
    tab = new_tab(browser, **NARROW)
    chat.tabs.append(("signed out", tab))
    tab.page.goto(chat.url)
    expect(tab.page.get_by_role("heading", level=1)).to_be_visible()
    assert problems(tab) == []
    tab.page.evaluate(BREAK)
    found = "\n".join(problems(tab))
    assert 'button without a name: <button class="probe-unnamed">' in found
    assert 'image without a name (alt) nor marked decorative: <img class="probe-image"' in found
    assert "probe-decorative" not in found
    assert 'focusable inside aria-hidden: <a href="/">' in found
    assert "2 navigation landmarks not told apart by name: Twice <nav" in found
    assert "no h1 among the headings (levels [2])" in found
    assert "the page scrolls sideways: 2000 px of content in 375 px" in found
    rings = focus_problems(tab, 8)
    assert any("probe-no-ring" in ring for ring in rings), rings
    assert not any("probe-unnamed" in ring for ring in rings), rings
    no_problems(tab)
