"""Search in the browser: Bob finds Ada's messages by a word and by `from:@ada` from the
header's field (or Ctrl+Shift+F, or the button on a phone-sized screen); the snippet marks the
words with <mark> and shows a message's own markup and entities as the text they are; a too
long query says so; a result opens its channel at the message, also far back in a long
history (scrolling down then reaches the newest), in a thread (at its root) or in a public
channel Bob has not joined. The Files view finds files by name with the same words: a file
downloads with its bytes, an image opens in the lightbox, a result shows its message in the
conversation, more come by "Load more files". The highlight parser is checked on tricky
strings in the page. Any console error, page error or CSP violation fails a test."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.a11y import problems
from tests.web.browser import Tab, needs_chromium
from tests.web.chat import SEEDED, Chat, message, messages, no_problems, open_channel, png, seed

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect

# The highlight parser, imported in the page from the tree the page itself was served from.
PARSE = """
async (strings) => {
  const css = document.querySelector('link[rel="stylesheet"]').href;
  const base = css.slice(0, css.indexOf("/css/"));
  const { parseHighlight } = await import(`${base}/js/highlight.js`);
  return strings.map((s) => parseHighlight(s));
}
"""


def panel(tab: Tab) -> Any:
    return tab.page.get_by_role("complementary", name="Search")


def results(tab: Tab) -> Any:
    return panel(tab).locator(".search-hit")


def result(tab: Tab, text: str) -> Any:
    return results(tab).filter(has_text=text)


def search_from_header(tab: Tab, q: str) -> None:
    box = tab.page.locator("#search-box-q")
    box.fill(q)
    box.press("Enter")


def search_in_panel(tab: Tab, q: str) -> None:
    field = panel(tab).get_by_role("searchbox", name=re.compile("^Search (messages|files)$"))
    field.fill(q)
    field.press("Enter")


def seed_history(chat: Chat, channel_id: str, count: int, *, special: dict[int, str]) -> None:
    with httpx.Client(
        base_url=chat.url, headers={"Authorization": f"Bearer {chat.ada}"}, timeout=10
    ) as http:
        for n in range(1, count + 1):
            text = special.get(n, f"seed {n}")
            r = http.post("/api/messages", json={"channel_id": channel_id, "text": text})
            assert r.status_code == 201, r.text


def file_rows(tab: Tab) -> Any:
    return panel(tab).locator(".search-file")


def show_files(tab: Tab) -> None:
    switch = panel(tab).get_by_role("group", name="Search in").get_by_role("button", name="Files")
    switch.click()
    expect(switch).to_have_attribute("aria-pressed", "true")


# -- tests ---------------------------------------------------------------------------------


def test_bob_finds_adas_messages_by_word_and_author(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    room = chat.channel("finds", members=(chat.bob,))
    elsewhere = chat.channel("elsewhere", members=(chat.bob,))
    chat.send(chat.ada, room["id"], "The quokka report is ready for review")
    chat.send(chat.ada, room["id"], "Markup <b>x</b> and &amp; stay text, says the quokka")
    chat.send(chat.bob, room["id"], "Bob has no quokka opinions")
    bob = chat.tab(browser, "bob")
    open_channel(bob, chat, elsewhere["id"])
    page = bob.page

    # Ctrl+Shift+F goes to the header's field, which names the shortcut.
    header_box = page.locator("#search-box-q")
    expect(header_box).to_have_accessible_name("Search messages")
    expect(header_box).to_have_attribute("placeholder", re.compile("Ctrl\\+Shift\\+F"))
    page.keyboard.press("Control+Shift+F")
    expect(header_box).to_be_focused()
    search_from_header(bob, "quokka")
    expect(panel(bob)).to_be_visible()
    expect(results(bob)).to_have_count(3)
    expect(panel(bob).get_by_role("status")).to_have_text("3 results")
    report = result(bob, "report is ready")
    expect(report).to_contain_text("Ada Owner")
    expect(report).to_contain_text(f"#{room['name']}")
    expect(report.locator("time")).to_have_count(1)
    expect(report.locator("mark")).to_have_text("quokka")
    # The message's own markup and entities are its text; no tag of the highlight leaks.
    markup = result(bob, "Markup")
    expect(markup.locator(".hit-text")).to_contain_text("Markup <b>x</b> and &amp; stay text")
    expect(markup.locator("b")).to_have_count(0)
    expect(markup.locator("mark")).to_have_text("quokka")
    expect(panel(bob)).not_to_contain_text("<mark>")
    expect(panel(bob)).not_to_contain_text("&lt;")
    screenshot(bob, "search-results")

    # By author, then newest first; Bob's own is not Ada's.
    search_in_panel(bob, "from:@ada quokka")
    expect(results(bob)).to_have_count(2)
    expect(result(bob, "Bob has no")).to_have_count(0)
    newest = panel(bob).get_by_role("button", name="Newest")
    newest.click()
    expect(newest).to_have_attribute("aria-pressed", "true")
    expect(results(bob).first).to_contain_text("Markup")
    expect(results(bob)).to_have_count(2)

    # Nothing found: said, with the way to the help.
    search_in_panel(bob, "from:@bob zebrafish")
    expect(panel(bob)).to_contain_text("No messages match “from:@bob zebrafish”")
    panel(bob).get_by_role("button", name="Search help").first.click()
    help_text = panel(bob).get_by_role("region", name="Search help")
    expect(help_text).to_contain_text("from:@ada")
    expect(help_text).to_contain_text("in:#general")

    # Too long: the reason, not a silent nothing.
    search_in_panel(bob, "quokka " * 80)
    expect(panel(bob).get_by_role("alert")).to_have_text(re.compile("too long: at most 500"))
    expect(results(bob)).to_have_count(0)

    # Escape closes the panel; focus goes back to where the search started.
    page.keyboard.press("Escape")
    expect(panel(bob)).to_be_hidden()
    expect(header_box).to_be_focused()
    no_problems(bob)


def test_a_result_far_back_opens_there_and_scrolling_down_reaches_the_newest(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    history = chat.channel("long-history", members=(chat.bob,))
    seed_history(chat, history["id"], SEEDED, special={20: "The narwhal plan, far back"})
    other = chat.channel("start-here", members=(chat.bob,))
    bob = chat.tab(browser, "bob", color_scheme="dark")
    open_channel(bob, chat, other["id"])
    page = bob.page

    search_from_header(bob, "narwhal")
    expect(results(bob)).to_have_count(1)
    expect(results(bob).locator("mark")).to_have_text("narwhal")
    screenshot(bob, "search-results-dark")
    results(bob).first.click()

    expect(page.get_by_role("heading", level=1)).to_have_text(f"#{history['name']}")
    target = message(bob, "The narwhal plan")
    expect(target).to_be_in_viewport()
    expect(target).to_have_class(re.compile(r"\bjumped\b"))
    expect(target).to_be_focused()
    # The newest are not loaded: the window stops around the message.
    expect(message(bob, seed(SEEDED))).to_have_count(0)
    expect(page.get_by_role("button", name="Jump to latest")).to_be_visible()
    screenshot(bob, "search-jumped-dark")

    # Scrolling down loads newer pages until the newest.
    scroller = page.locator(".scroller")
    pages = 0
    while not message(bob, seed(SEEDED)).count():
        last = messages(bob).last.get_attribute("data-key")
        scroller.evaluate("el => { el.scrollTop = el.scrollHeight; }")
        page.wait_for_function(
            "(key) => [...document.querySelectorAll('ol.messages > li.message')].at(-1)"
            ".dataset.key !== key",
            arg=last,
        )
        assert messages(bob).count() <= 300
        pages += 1
        assert pages < 12
    scroller.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    expect(message(bob, seed(SEEDED))).to_be_in_viewport()
    expect(page.get_by_role("button", name="Jump to latest")).to_be_hidden()

    # Again from the results, then "Jump to latest" goes straight back.
    results(bob).first.click()
    expect(target).to_be_in_viewport()
    page.get_by_role("button", name="Jump to latest").click()
    expect(message(bob, seed(SEEDED))).to_be_in_viewport()
    no_problems(bob)


def test_results_in_threads_and_unjoined_channels_on_a_narrow_screen(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    room = chat.channel("threads", members=(chat.bob,))
    root = chat.send(chat.ada, room["id"], "Thread root about lunch")
    chat.post(
        "/api/messages",
        chat.ada,
        {"channel_id": room["id"], "text": "A reply naming the axolotl", "thread_id": root["id"]},
    )
    unjoined = chat.channel("not-joined")
    chat.send(chat.ada, unjoined["id"], "Only in a channel Bob never joined: pangolin")
    bob = chat.tab(browser, "bob", viewport={"width": 375, "height": 740}, has_touch=True)
    open_channel(bob, chat, room["id"])
    page = bob.page

    # On a phone the header has a button; the panel has the field, focused.
    page.get_by_role("button", name="Search messages").click()
    field = panel(bob).get_by_role("searchbox", name="Search messages")
    expect(field).to_be_focused()
    expect(panel(bob).get_by_role("region", name="Search help")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    search_in_panel(bob, "axolotl")
    expect(results(bob)).to_have_count(1)
    expect(results(bob).first).to_contain_text("(thread)")
    screenshot(bob, "search-narrow")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375

    # A reply opens its thread in the panel, and the channel at the thread's root.
    results(bob).first.click()
    expect(panel(bob)).to_be_hidden()
    thread = page.get_by_role("complementary", name="Thread")
    expect(thread).to_contain_text("A reply naming the axolotl")
    root_item = message(bob, "Thread root about lunch")
    expect(root_item).to_have_class(re.compile(r"\bjumped\b"))
    page.keyboard.press("Escape")
    expect(thread).to_be_hidden()
    expect(root_item).to_be_in_viewport()

    # A public channel Bob is not in opens to read, with the Join bar.
    page.keyboard.press("Control+Shift+F")
    search_in_panel(bob, "pangolin")
    expect(results(bob)).to_have_count(1)
    results(bob).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"#{unjoined['name']}")
    found = message(bob, "never joined")
    expect(found).to_be_in_viewport()
    expect(found).to_have_class(re.compile(r"\bjumped\b"))
    expect(page.get_by_role("button", name=f"Join #{unjoined['name']}")).to_be_visible()
    screenshot(bob, "search-jumped-unjoined")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    no_problems(bob)


def test_the_highlight_parser_on_tricky_strings(chat: Chat, browser: Any) -> None:
    room = chat.channel("parser")
    ada = chat.tab(browser, "ada")
    open_channel(ada, chat, room["id"])
    cases = {
        "plain": [{"text": "plain", "mark": False}],
        "a <mark>b</mark> c": [
            {"text": "a ", "mark": False},
            {"text": "b", "mark": True},
            {"text": " c", "mark": False},
        ],
        # Entities decode once: &amp;lt; is the text "&lt;", not "<".
        "&lt;b&gt;x&lt;/b&gt; &amp;amp; &amp;lt; &quot;q&quot; &#x27;s&#39;": [
            {"text": "<b>x</b> &amp; &lt; \"q\" 's'", "mark": False}
        ],
        # Unknown entities and other tags are text as written.
        "&nbsp; &#60; <b>bold</b> <MARK>x</MARK> <mark >y": [
            {"text": "&nbsp; &#60; <b>bold</b> <MARK>x</MARK> <mark >y", "mark": False}
        ],
        # A stray close is dropped; an unclosed mark runs to the end; nesting stays marked.
        "</mark>a<mark>b<mark>c</mark>d</mark>e<mark>f": [
            {"text": "a", "mark": False},
            {"text": "bcd", "mark": True},
            {"text": "e", "mark": False},
            {"text": "f", "mark": True},
        ],
        "<mark></mark>": [],
        "<mark>&lt;mark&gt;</mark>": [{"text": "<mark>", "mark": True}],
        "": [],
    }
    parsed = ada.page.evaluate(PARSE, list(cases))
    assert dict(zip(cases, parsed, strict=True)) == cases
    no_problems(ada)


REPORT = b"Quarterly report\nRevenue up; costs flat.\n"


def test_files_are_found_downloaded_opened_and_shown_in_their_conversation(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    room = chat.channel("quarter", members=(chat.bob,))
    start = chat.channel("files-start", members=(chat.bob,))
    # Older files first, so that the report and the chart lead the first page.
    extra = [
        chat.upload(chat.ada, f"quarterly-appendix-{n:02}.txt", b"appendix\n")["id"]
        for n in range(20)
    ]
    for at in range(0, len(extra), 10):
        body = {"channel_id": start["id"], "text": "Appendices", "file_ids": extra[at : at + 10]}
        chat.post("/api/messages", chat.ada, body)
    ids = [
        chat.upload(chat.ada, "quarterly-report.txt", REPORT)["id"],
        chat.upload(chat.ada, "quarterly-chart.png", png(320, 200, (40, 120, 230)))["id"],
    ]
    chat.post(
        "/api/messages",
        chat.ada,
        {"channel_id": room["id"], "text": "Numbers attached", "file_ids": ids},
    )
    bob = chat.tab(browser, "bob", viewport={"width": 1280, "height": 800})
    open_channel(bob, chat, start["id"])
    page = bob.page

    # The same words, in files: by name, newest first, a page at a time.
    search_from_header(bob, "quarterly")
    expect(panel(bob)).to_contain_text("No messages match")
    show_files(bob)
    expect(panel(bob).get_by_role("searchbox", name="Search files")).to_have_value("quarterly")
    expect(file_rows(bob)).to_have_count(20)
    expect(panel(bob).get_by_role("status")).to_have_text("20 files so far")
    expect(file_rows(bob).nth(0)).to_contain_text("quarterly-chart.png")
    report = file_rows(bob).nth(1)
    expect(report).to_contain_text("quarterly-report.txt")
    expect(report).to_contain_text("Ada Owner")
    expect(report).to_contain_text(f"in #{room['name']}")
    expect(report.locator("time")).to_have_count(1)
    chart = file_rows(bob).nth(0).locator("img.thumbnail")
    expect(chart).to_have_attribute("data-loaded", "true")
    assert problems(bob) == []
    screenshot(bob, "search-files")
    panel(bob).get_by_role("button", name="Load more files").click()
    expect(file_rows(bob)).to_have_count(22)
    expect(file_rows(bob).nth(20).get_by_role("button").first).to_be_focused()
    expect(panel(bob).get_by_role("button", name="Load more files")).to_have_count(0)
    expect(panel(bob).get_by_role("status")).to_have_text("22 files")

    # Downloaded with its bytes.
    with page.expect_download() as download:
        panel(bob).get_by_role("button", name="Download quarterly-report.txt").click()
    assert download.value.suggested_filename == "quarterly-report.txt"
    assert Path(download.value.path()).read_bytes() == REPORT

    # The image large; Escape goes back to it.
    opener = panel(bob).get_by_role("button", name="Open quarterly-chart.png")
    opener.click()
    box = page.get_by_role("dialog")
    expect(box.get_by_role("heading")).to_have_text("quarterly-chart.png")
    expect(box.locator("img.lightbox-image")).to_have_attribute("data-loaded", "true")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(opener).to_be_focused()

    # Nothing found: said.
    search_in_panel(bob, "zebrafish")
    expect(panel(bob)).to_contain_text("No files match “zebrafish”")
    expect(file_rows(bob)).to_have_count(0)

    # The report's message, in its conversation.
    search_in_panel(bob, "quarterly-report")
    expect(file_rows(bob)).to_have_count(1)
    panel(bob).get_by_role("button", name="Show quarterly-report.txt in conversation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"#{room['name']}")
    target = message(bob, "Numbers attached")
    expect(target).to_be_in_viewport()
    expect(target).to_have_class(re.compile(r"\bjumped\b"))

    # On a phone: the same view, nothing sideways, and no problem for assistive technology.
    narrow = chat.tab(browser, "bob", viewport={"width": 375, "height": 740}, has_touch=True)
    open_channel(narrow, chat, start["id"])
    narrow.page.get_by_role("button", name="Search messages").click()
    search_in_panel(narrow, "quarterly")
    show_files(narrow)
    expect(file_rows(narrow)).to_have_count(20)
    expect(file_rows(narrow).nth(0).locator("img.thumbnail")).to_have_attribute(
        "data-loaded", "true"
    )
    assert narrow.page.evaluate("document.documentElement.scrollWidth") <= 375
    assert problems(narrow) == []
    screenshot(narrow, "search-files-narrow")
    no_problems(bob, narrow)
