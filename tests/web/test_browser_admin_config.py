"""The administration pages' Channels, Audit log and Settings in real browsers against a
real `nchat serve`, as Ada (the owner), with Bob's tab open beside: a private channel of
Bob's listed without its messages, archived and unarchived, another made private, its owner
changed, then deleted (Bob's open tab loses it live); the audit log showing those actions,
filtered, expanded and exported as CSV; the settings' name, accent and search switch reaching
Bob's tab live, the server's refusal said at its field, and an earlier version restored.
Each screen is checked for accessibility at 1280 and 375 px (tests/web/a11y.py)."""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.a11y import problems
from tests.web.browser import Tab, needs_chromium
from tests.web.chat import Chat, composer, no_problems, open_channel, sidebar_link

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect

WIDE: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}}
NARROW = {"width": 375, "height": 740}
ACCENT = """() => getComputedStyle(document.documentElement).getPropertyValue("--accent").trim()"""
DEFAULTS = {
    "branding": {"app_name": "Acme Chat"},
    "theme": {"mode": "system", "accent": "#2f6fed"},
    "features": {"search": True},
}


def admin_tab(chat: Chat, browser: Any, section: str, heading: str) -> Tab:
    tab = chat.tab(browser, "ada", **WIDE)
    tab.page.goto(f"{chat.url}/#/admin/{section}")
    expect(tab.page.get_by_role("heading", level=2, name=heading)).to_be_visible()
    return tab


def accessible(tab: Tab, name: str, screenshot: Any, *, narrow: bool = True) -> None:
    """No accessibility finding on the screen as shown, wide and (`narrow`) at 375 px."""
    found = []
    screenshot(tab, name)
    found += [f"wide: {p}" for p in problems(tab)]
    if narrow:
        tab.page.set_viewport_size(NARROW)
        screenshot(tab, f"{name}-narrow")
        found += [f"narrow: {p}" for p in problems(tab)]
        tab.page.set_viewport_size(WIDE["viewport"])
    assert found == [], found


def cell(row: Any, label: str) -> Any:
    return row.locator(f'[data-label="{label}"]')


def patch_config(chat: Chat, changes: dict[str, Any]) -> None:
    r = httpx.patch(
        f"{chat.url}/api/admin/config",
        json=changes,
        headers={"Authorization": f"Bearer {chat.ada}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


@pytest.fixture
def workspace_settings(chat: Chat) -> Iterator[None]:
    """The test changes the workspace's settings; they are as before afterwards."""
    yield
    patch_config(chat, DEFAULTS)


def test_channels_are_managed_and_members_see_it_live(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    name = f"secret-{uuid.uuid4().hex[:6]}"
    secret = chat.post("/api/channels", chat.bob, {"name": name, "type": "private"})
    chat.send(chat.bob, secret["id"], "the quokka plan stays between us")
    plaza = chat.channel("plaza", members=(chat.bob,))
    bob = chat.tab(browser, "bob")
    open_channel(bob, chat, secret["id"])

    ada = admin_tab(chat, browser, "channels", "Channels")
    page = ada.page
    rows = page.locator(".admin-table tbody tr")
    expect(rows.first).to_be_visible()
    page.get_by_role("searchbox", name="Name").fill(name)
    row = rows.filter(has_text=f"#{name}")
    expect(rows).to_have_count(1)
    expect(cell(row, "Kind")).to_have_text("Private")
    expect(cell(row, "Private")).to_have_text("Yes")
    expect(cell(row, "Owner")).to_have_text("@bob")
    expect(cell(row, "Members")).to_have_text("1")
    expect(cell(row, "Last activity").locator("time")).to_be_visible()
    # Its metadata, never its messages.
    expect(page.get_by_text("quokka plan")).to_have_count(0)
    accessible(ada, "admin-channels", screenshot)

    row.get_by_role("button", name=f"Archive: #{name}").click()
    confirm = page.get_by_role("dialog", name=f"Archive #{name}?")
    accessible(ada, "admin-channel-archive", screenshot, narrow=False)
    confirm.get_by_role("button", name="Archive").click()
    expect(confirm).to_be_hidden()
    expect(cell(row, "Archived")).to_have_text("Yes")
    expect(page.get_by_role("status").filter(has_text=f"#{name} is archived.")).to_be_visible()
    expect(bob.page.get_by_text("This channel is archived")).to_be_visible()
    expect(composer(bob)).to_have_count(0)

    row.get_by_role("button", name=f"Unarchive: #{name}").click()
    page.get_by_role("dialog", name=f"Unarchive #{name}?").get_by_role(
        "button", name="Unarchive"
    ).click()
    expect(cell(row, "Archived")).to_have_text("No")
    expect(composer(bob)).to_be_visible()

    # Another channel, public, made private: filtered by kind, it moves between the lists.
    page.get_by_role("searchbox", name="Name").fill(plaza["name"])
    plaza_row = rows.filter(has_text=f"#{plaza['name']}")
    expect(rows).to_have_count(1)
    plaza_row.get_by_role("button", name=f"Make private: #{plaza['name']}").click()
    page.get_by_role("dialog", name=f"Make #{plaza['name']} private?").get_by_role(
        "button", name="Make private"
    ).click()
    expect(cell(plaza_row, "Private")).to_have_text("Yes")
    page.get_by_label("Kind").select_option("public")
    expect(page.get_by_text("No channel matches.")).to_be_visible()
    page.get_by_label("Kind").select_option("private")
    expect(rows).to_have_count(1)
    page.get_by_label("Kind").select_option("")

    # A new owner, picked by name: Ada, who joins as the channel's admin.
    page.get_by_role("searchbox", name="Name").fill(name)
    expect(rows).to_have_count(1)
    row.get_by_role("button", name=f"Change owner: #{name}").click()
    picker = page.get_by_role("dialog", name=f"New owner of #{name}")
    picker.get_by_role("searchbox", name="Find a person").fill("ada")
    expect(picker.get_by_role("button", name=re.compile("Ada Owner"))).to_be_visible()
    accessible(ada, "admin-channel-owner", screenshot)
    # Ada's chat learns of her joining (fetching the channel) before it is deleted below.
    joined = f"/api/channels/{secret['id']}"
    with page.expect_response(lambda r: r.url.endswith(joined)):
        picker.get_by_role("button", name=re.compile("Ada Owner")).click()
    expect(picker).to_be_hidden()
    expect(cell(row, "Owner")).to_have_text("@ada")
    expect(cell(row, "Members")).to_have_text("2")

    # Deleted for good, once its name is typed; Bob, reading it, is moved away and told.
    row.get_by_role("button", name=f"Delete #{name}").click()
    doom = page.get_by_role("dialog", name=f"Delete #{name} for good?")
    go = doom.get_by_role("button", name="Delete for good")
    expect(go).to_be_disabled()
    doom.get_by_label("to confirm").fill(name[:-1])
    expect(go).to_be_disabled()
    accessible(ada, "admin-channel-delete", screenshot)
    doom.get_by_label("to confirm").fill(name)
    go.click()
    expect(doom).to_be_hidden()
    expect(rows).to_have_count(0)
    expect(bob.page.get_by_role("alert")).to_contain_text(f"#{name} was deleted.")
    expect(sidebar_link(bob, name)).to_have_count(0)
    expect(bob.page).not_to_have_url(re.compile(secret["id"]))
    r = httpx.get(
        f"{chat.url}/api/admin/channels",
        params={"q": name},
        headers={"Authorization": f"Bearer {chat.ada}"},
        timeout=10,
    )
    assert r.json()["channels"] == []

    # The audit log tells each of it, newest first.
    page.get_by_role("navigation", name="Administration sections").get_by_role(
        "link", name="Audit log"
    ).click()
    page.get_by_label("Action").fill("channel.")
    page.get_by_role("button", name="Filter").click()
    entries = page.locator(".audit-table tbody tr").filter(has_text=f"#{name}")
    expect(entries.locator("[data-label=Action]")).to_have_text(
        [
            "channel.deleted",
            "channel.owner_changed",
            "channel.unarchived",
            "channel.archived",
        ]
    )
    plaza_entry = page.locator(".audit-table tbody tr").filter(has_text=f"#{plaza['name']}")
    expect(plaza_entry.locator("[data-label=Action]")).to_have_text(["channel.visibility_changed"])
    expect(plaza_entry.locator("summary")).to_have_text("type: public → private")
    expect(entries.first.locator("[data-label=Actor]")).to_have_text("Ada Owner")
    no_problems(ada, bob)


def test_more_channels_load_on_asking(chat: Chat, browser: Any) -> None:
    prefix = f"many-{uuid.uuid4().hex[:4]}"
    for n in range(51):  # one past the page of 50
        chat.post("/api/channels", chat.ada, {"name": f"{prefix}-{n:02d}", "type": "public"})
    ada = admin_tab(chat, browser, "channels", "Channels")
    page = ada.page
    # The filtered list, not the first page before the typing settled: the 50 newest
    # channels are these ones too.
    with page.expect_response(lambda r: "/api/admin/channels" in r.url and prefix in r.url):
        page.get_by_role("searchbox", name="Name").fill(prefix)
    rows = page.locator(".admin-table tbody tr")
    expect(rows.filter(has_text=prefix)).to_have_count(50)
    expect(rows).to_have_count(50)
    page.get_by_role("button", name="Load more").click()
    expect(rows).to_have_count(51)
    expect(page.get_by_role("button", name="Load more")).to_have_count(0)
    expect(rows.locator(".admin-name")).to_have_count(51)
    names = [name.removeprefix("#") for name in rows.locator(".admin-name").all_inner_texts()]
    assert sorted(names) == [f"{prefix}-{n:02d}" for n in range(51)]
    no_problems(ada)


def test_the_audit_log_is_filtered_expanded_and_exported(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    room = chat.channel("audited")
    for action in ("archive", "unarchive", "archive"):
        chat.post(f"/api/admin/channels/{room['id']}/{action}", chat.ada, {})
    ada = admin_tab(chat, browser, "audit", "Audit log")
    page = ada.page
    rows = page.locator(".audit-table tbody tr")
    mine = rows.filter(has_text=f"#{room['name']}")
    expect(mine).to_have_count(3)
    accessible(ada, "admin-audit", screenshot)

    page.get_by_label("Action").fill("channel.archived")
    page.get_by_role("button", name="Filter").click()
    expect(mine).to_have_count(2)
    expect(rows.locator("[data-label=Action]")).to_have_text(["channel.archived"] * rows.count())
    first = mine.first
    expect(first.locator("summary")).to_have_text("archived: false → true")
    first.locator("summary").click()
    expect(first.locator("pre")).to_contain_text('"name": "' + room["name"] + '"')
    accessible(ada, "admin-audit-filtered", screenshot)

    # An actor who is nobody is said at the field.
    page.get_by_label("Actor").fill("nobody-here")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("Nobody is called @nobody-here.")).to_be_visible()
    expect(page.get_by_label("Actor")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Actor").fill("ada")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("Nobody is called")).to_have_count(0)
    expect(mine).to_have_count(2)

    # The export is the filtered log, fetched with the token (not in its URL).
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    assert re.fullmatch(r"nchat-audit-\d{8}T\d{6}Z\.csv", download.value.suggested_filename)
    with Path(download.value.path()).open(newline="") as saved:
        exported = list(csv.DictReader(saved))
    assert exported and {e["action"] for e in exported} == {"channel.archived"}
    assert [e["target_id"] for e in exported].count(room["id"]) == 2
    assert {e["actor_id"] for e in exported} == {chat.ada_id}
    [export_url] = [u for u in asked if "/api/admin/audit/export" in u]
    assert "format=csv" in export_url and "action=channel.archived" in export_url
    assert "token" not in export_url
    expect(page.get_by_role("status").filter(has_text="CSV export downloaded.")).to_be_visible()

    with page.expect_download() as download:
        page.get_by_role("button", name="Export JSON Lines").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert len(lines) == len(exported)
    no_problems(ada)


@pytest.mark.usefixtures("workspace_settings")
def test_settings_apply_live_refusals_are_said_and_a_version_is_restored(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    bob = chat.tab(browser, "bob")
    bob.page.goto(chat.url)
    expect(bob.page.locator("#sidebar .brand")).to_have_text("Acme Chat")
    room = chat.channel("settings", members=(chat.bob,))
    open_channel(bob, chat, room["id"])
    expect(bob.page.locator("#search-box-q")).to_be_visible()

    ada = admin_tab(chat, browser, "settings", "Settings")
    page = ada.page
    look = page.get_by_role("region", name="Name and look")
    expect(look.get_by_label("Workspace name")).to_have_value("Acme Chat")
    accessible(ada, "admin-settings", screenshot)

    look.get_by_label("Workspace name").fill("Quokka Works")
    look.get_by_label("Accent colour").fill("#c2255c")
    look.get_by_role("button", name="Save name and look").click()
    expect(look.get_by_role("status")).to_have_text("Saved.")
    expect(bob.page.locator("#sidebar .brand")).to_have_text("Quokka Works")
    bob.page.wait_for_function(f"() => ({ACCENT})() === '#c2255c'")
    assert page.evaluate(ACCENT) == "#c2255c"  # Ada's own tab too
    history = page.get_by_role("region", name="History")
    named = history.locator("li.admin-version").first
    expect(named).to_contain_text("Workspace name: Acme Chat → Quokka Works")
    expect(named).to_contain_text("Accent colour: #2f6fed → #c2255c")
    found = re.search(r"Version (\d+)", named.inner_text())
    assert found is not None
    version = int(found.group(1))

    features = page.get_by_role("region", name="Features")
    features.get_by_label("Search").uncheck()
    features.get_by_role("button", name="Save features").click()
    expect(features.get_by_role("status")).to_have_text("Saved.")
    expect(bob.page.locator("#search-box-q")).to_have_count(0)
    expect(history.locator("li.admin-version").first).to_contain_text(
        f"Version {version + 1} (current)"
    )

    # The server's refusal, at the field it names; nothing is saved.
    look.get_by_label("Workspace name").fill("")
    look.get_by_role("button", name="Save name and look").click()
    field = look.get_by_label("Workspace name")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(look.locator(".field-error")).to_have_text(re.compile("at least 1 character"))
    expect(field).to_have_accessible_description(re.compile("at least 1 character"))
    files = page.get_by_role("region", name="Files")
    files.get_by_label("Largest upload (MB)").fill("lots")
    files.get_by_role("button", name="Save files").click()
    expect(files.locator(".field-error")).to_have_text(re.compile("valid integer"))
    accessible(ada, "admin-settings-refused", screenshot)
    expect(history.locator("li.admin-version").first).to_contain_text(
        f"Version {version + 1} (current)"
    )

    # The version with the new name, before search was turned off, restored.
    history.get_by_role("button", name=f"Restore version {version}").click()
    confirm = page.get_by_role("dialog", name=f"Restore version {version}?")
    accessible(ada, "admin-settings-restore", screenshot, narrow=False)
    confirm.get_by_role("button", name="Restore").click()
    expect(confirm).to_be_hidden()
    expect(
        page.get_by_role("status").filter(has_text=f"Version {version} restored.")
    ).to_be_visible()
    expect(history.locator("li.admin-version").first).to_contain_text(f"Restored version {version}")
    expect(features.get_by_label("Search")).to_be_checked()
    expect(look.get_by_label("Workspace name")).to_have_value("Quokka Works")
    expect(bob.page.locator("#search-box-q")).to_be_visible()
    expect(bob.page.locator("#sidebar .brand")).to_have_text("Quokka Works")
    no_problems(ada, bob, allow=re.compile(r"status of 422 .*/api/admin/config\)$"))
