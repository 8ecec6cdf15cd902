"""The web client's smaller promises, in real browsers against a real `nchat serve`: the
workspace's name heads the sign-in page; a search snippet reads as the message shows, without
its Markdown; a message's link (its menu's "Copy link") opens the channel at the message on a
fresh load and on a change of the fragment, also far back and in a thread, while the address
follows the open channel through Back, Forward and reload; a reply carries files (picker,
paste, drop); search results and the Files panel follow deletes and new messages live. Any
console error, page error or CSP violation fails a test."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.web.a11y import problems
from tests.web.browser import Tab, needs_chromium, new_tab
from tests.web.chat import Chat, message, no_problems, open_channel, png
from tests.web.test_browser_files import NOTES, PASTE, transfer
from tests.web.test_browser_threads import choose, in_panel

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect

CLIPBOARD = ["clipboard-read", "clipboard-write"]

# The snippet's reading, imported in the page from the tree the page itself was served from.
READABLE = """
async (strings) => {
  const css = document.querySelector('link[rel="stylesheet"]').href;
  const base = css.slice(0, css.indexOf("/css/"));
  const { parseHighlight, readable } = await import(`${base}/js/highlight.js`);
  return strings.map((s) => readable(parseHighlight(s)).map((p) => [p.text, p.mark]));
}
"""


def delete(chat: Chat, token: str, message_id: str) -> None:
    r = httpx.delete(
        f"{chat.url}/api/messages/{message_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 204, r.text


def reply(chat: Chat, token: str, channel_id: str, root_id: str, text: str) -> dict[str, Any]:
    body = {"channel_id": channel_id, "text": text, "thread_id": root_id}
    return dict(chat.post("/api/messages", token, body))


def search_panel(tab: Tab) -> Any:
    return tab.page.get_by_role("complementary", name="Search")


def search(tab: Tab, q: str) -> None:
    box = tab.page.locator("#search-box-q")
    box.fill(q)
    box.press("Enter")


def heading(tab: Tab) -> Any:
    return tab.page.get_by_role("heading", level=1)


# -- tests ---------------------------------------------------------------------------------


def test_the_workspace_name_heads_the_sign_in_page(chat: Chat, browser: Any) -> None:
    tab = new_tab(browser)
    tab.page.goto(chat.url)
    expect(heading(tab)).to_have_text("Sign in to Acme Chat")
    expect(tab.page).to_have_title("Acme Chat")
    no_problems(tab)


def test_search_snippets_read_without_markdown(chat: Chat, browser: Any) -> None:
    room = chat.channel("snippets", members=(chat.bob,))
    chat.send(
        chat.ada,
        room["id"],
        "**Bold** zebu news with `zebu --fast` and [the zebu docs](https://example.com/zebu)",
    )
    bob = chat.tab(browser, "bob")
    open_channel(bob, chat, room["id"])
    search(bob, "zebu")
    hit = search_panel(bob).locator(".search-hit .hit-text")
    expect(hit).to_have_count(1)
    expect(hit).to_have_text("Bold zebu news with zebu --fast and the zebu docs")
    expect(hit.locator("mark")).to_have_count(3)
    for syntax in ("**", "`", "](", "https://"):
        expect(hit).not_to_contain_text(syntax)

    # On its own: marks stay where the words are; code keeps what looks like syntax inside
    # it; an escaped character, a lone star, a name with underscores and a pair the excerpt
    # cut in half stay as written.
    cases = {
        "**<mark>Bold</mark>** and _it_ ~~gone~~": [
            ["Bold", True],
            [" and it gone", False],
        ],
        "`a *b* <mark>c</mark>` \\*not\\* 2*3 snake_case_name": [
            ["a *b* ", False],
            ["c", True],
            [" *not* 2*3 snake_case_name", False],
        ],
        "&gt; quoted\n# Title\n```js\nx = 1\n```": [["quoted\nTitle\nx = 1\n", False]],
        "…half** of it, &lt;https://example.com&gt; 😀 **b😀**": [
            ["…half** of it, https://example.com 😀 b😀", False]
        ],
    }
    assert bob.page.evaluate(READABLE, list(cases)) == list(cases.values())
    no_problems(bob)


def test_message_links_open_the_channel_at_the_message(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    room = chat.channel("links")
    other = chat.channel("elsewhere")
    with httpx.Client(
        base_url=chat.url, headers={"Authorization": f"Bearer {chat.ada}"}, timeout=10
    ) as http:
        sent = []
        for n in range(1, 131):  # the first is far past the newest page
            text = "The far back one" if n == 1 else f"filler {n}"
            r = http.post("/api/messages", json={"channel_id": room["id"], "text": text})
            assert r.status_code == 201, r.text
            sent.append(r.json())
    far = sent[0]
    there = chat.send(chat.ada, other["id"], "Over here")
    root = chat.send(chat.ada, other["id"], "A thread starts")
    answer = reply(chat, chat.ada, other["id"], root["id"], "The answer in it")
    ada = chat.tab(browser, "ada", permissions=CLIPBOARD)
    page = ada.page

    # "Copy link" in a message's menu: the link is on the clipboard, and said so.
    open_channel(ada, chat, other["id"])
    choose(ada, message(ada, "Over here"), "Copy link")
    expect(page.locator(".notice-text")).to_have_text(re.compile("^Link copied"))
    link = f"{chat.url}/#/c/{other['id']}/m/{there['id']}"
    assert page.evaluate("navigator.clipboard.readText()") == link
    expect(page.locator(".notice-text")).to_have_count(0)  # it goes by itself

    # A fresh load of a link to a message far back: the channel at the message, pointed
    # out; the address becomes the channel's.
    page.goto(f"{chat.url}/#/c/{room['id']}/m/{far['id']}")
    expect(heading(ada)).to_have_text(f"#{room['name']}")
    target = message(ada, "The far back one")
    expect(target).to_be_in_viewport()
    expect(target).to_have_class(re.compile(r"\bjumped\b"))
    expect(page).to_have_url(f"{chat.url}/channels/{room['id']}")
    screenshot(ada, "message-link-opened")

    # At the newest end, the last message's menu (one item longer now) opens upward, inside
    # the list rather than cut off under it.
    page.get_by_role("button", name=re.compile("^Jump to latest")).click()
    last = message(ada, "filler 130")
    last.hover()
    last.get_by_role("button", name=re.compile("^Actions for")).click()
    menu = page.get_by_role("menu")
    expect(menu.get_by_role("menuitem", name="Copy link")).to_be_visible()
    box, frame = menu.bounding_box(), page.locator(".scroller").bounding_box()
    assert box["y"] >= frame["y"] and box["y"] + box["height"] <= frame["y"] + frame["height"]
    page.keyboard.press("Escape")

    # A link opened by changing the fragment: the other channel at its message.
    page.evaluate("(link) => { location.hash = new URL(link).hash; }", link)
    expect(heading(ada)).to_have_text(f"#{other['name']}")
    expect(message(ada, "Over here")).to_have_class(re.compile(r"\bjumped\b"))
    expect(page).to_have_url(f"{chat.url}/channels/{other['id']}")

    # Back and Forward go between the channels; a reload stays where it is.
    page.go_back()
    expect(heading(ada)).to_have_text(f"#{room['name']}")
    expect(page).to_have_url(f"{chat.url}/channels/{room['id']}")
    page.go_forward()
    expect(heading(ada)).to_have_text(f"#{other['name']}")
    page.reload()
    expect(heading(ada)).to_have_text(f"#{other['name']}")
    expect(page).to_have_url(f"{chat.url}/channels/{other['id']}")

    # A reply's link names its thread: the channel at the root, the reply in the panel.
    message(ada, "A thread starts").locator("button.thread-summary").click()
    choose(ada, in_panel(ada, "The answer in it"), "Copy link")
    reply_link = f"{chat.url}/#/c/{other['id']}/m/{root['id']}/r/{answer['id']}"
    assert page.evaluate("navigator.clipboard.readText()") == reply_link
    fresh = chat.tab(browser, "ada")
    fresh.page.goto(reply_link)
    expect(heading(fresh)).to_have_text(f"#{other['name']}")
    expect(in_panel(fresh, "The answer in it")).to_have_class(re.compile(r"\bjumped\b"))
    expect(fresh.page).to_have_url(f"{chat.url}/channels/{other['id']}")
    no_problems(ada, fresh)


def test_a_reply_carries_files(chat: Chat, browser: Any, screenshot: Any) -> None:
    room = chat.channel("thread-files", members=(chat.bob,))
    root = chat.send(chat.bob, room["id"], "Send me the minutes")
    ada, bob = chat.tab(browser, "ada"), chat.tab(browser, "bob")
    open_channel(ada, chat, room["id"])
    open_channel(bob, chat, room["id"])
    choose(ada, message(ada, "Send me the minutes"), "Reply in thread")
    thread = ada.page.get_by_role("complementary", name="Thread")
    box = thread.get_by_role("textbox", name="Reply in thread")
    expect(box).to_be_focused()

    # Files through the picker, a paste and a drop on the panel, all in the reply's list.
    with ada.page.expect_file_chooser() as chooser:
        thread.get_by_role("button", name="Attach files to the reply", exact=True).click()
    chooser.value.set_files({"name": "notes.txt", "mimeType": "text/plain", "buffer": NOTES})
    box.evaluate(PASTE, transfer(ada, ("pasted.png", "image/png", png(120, 80))))
    data = transfer(ada, ("dropped.png", "image/png", png(90, 90, (40, 90, 200))))
    scroll = thread.locator(".thread-scroll")
    scroll.dispatch_event("dragenter", {"dataTransfer": data})
    expect(thread.locator(".drop-zone")).to_have_text("Drop files to attach them to your reply")
    screenshot(ada, "thread-drop-zone")
    scroll.dispatch_event("drop", {"dataTransfer": data})
    uploads = thread.locator("ul.uploads > li")
    expect(uploads).to_have_count(3)
    for row in uploads.all():
        expect(row).to_contain_text("ready")
    # The channel's own composer has none of them.
    expect(ada.page.locator(".conversation ul.uploads")).to_have_count(0)
    box.fill("Here they are")
    thread.get_by_role("button", name="Reply", exact=True).click()
    expect(thread.locator("ul.uploads")).to_have_count(0)

    sent = in_panel(ada, "Here they are")
    expect(sent).not_to_have_class(re.compile("pending"))
    expect(sent.locator("img.thumbnail")).to_have_count(2)
    expect(sent.locator(".file-card")).to_contain_text("notes.txt")
    page = chat.get(f"/api/messages/{root['id']}/thread", chat.ada)
    assert [sorted(f["name"] for f in r["files"]) for r in page["replies"]] == [
        ["dropped.png", "notes.txt", "pasted.png"]
    ]
    assert problems(ada) == []
    no_problems(ada, bob)


def test_search_results_and_the_files_panel_follow_live_events(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    room = chat.channel("live-lists", members=(chat.bob,))
    first = chat.send(chat.ada, room["id"], "The narwhal census")
    chat.send(chat.ada, room["id"], "More narwhal counts")
    bob = chat.tab(browser, "bob")
    open_channel(bob, chat, room["id"])
    search(bob, "narwhal")
    hits = search_panel(bob).locator(".search-hit")
    expect(hits).to_have_count(2)

    # A deleted message leaves the results.
    delete(chat, chat.ada, first["id"])
    expect(hits).to_have_count(1)
    expect(search_panel(bob)).not_to_contain_text("census")

    # New messages: one that matches is counted (one that does not, not), and shown on asking.
    chat.send(chat.ada, room["id"], "Nothing to see")
    chat.send(chat.ada, room["id"], "A narwhal surfaced")
    fresh = search_panel(bob).get_by_role("button", name="Show 1 new result")
    expect(fresh).to_be_visible()
    expect(hits).to_have_count(1)
    screenshot(bob, "search-new-results")
    assert problems(bob) == []
    fresh.click()
    expect(hits).to_have_count(2)
    expect(hits.filter(has_text="surfaced")).to_have_count(1)
    expect(fresh).to_have_count(0)
    search_panel(bob).get_by_role("button", name="Close").click()

    # The Files panel: a file sent after it opened comes in at the top; it goes with its
    # message.
    uploaded = chat.upload(chat.ada, "old.txt", b"old\n")
    chat.post("/api/messages", chat.ada, {"channel_id": room["id"], "file_ids": [uploaded["id"]]})
    bob.page.get_by_role("button", name="Files", exact=True).click()
    files = bob.page.get_by_role("complementary", name="Files")
    rows = files.locator(".file-row")
    expect(rows).to_have_count(1)
    uploaded = chat.upload(chat.ada, "new.txt", b"new\n")
    body = {"channel_id": room["id"], "text": "the new one", "file_ids": [uploaded["id"]]}
    carrier = chat.post("/api/messages", chat.ada, body)
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("new.txt")
    expect(rows.first).to_contain_text("Ada Owner")
    delete(chat, chat.ada, carrier["id"])
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("old.txt")
    no_problems(bob)
