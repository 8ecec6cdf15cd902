"""Files in the web client, in real browsers against a real `nchat serve` (files kept on
local disk in its data directory): attached from the composer through the file picker, by
dropping them on the conversation and by pasting, uploaded at once with a progress bar each,
sent with the message; seen live by the other person as thumbnails and file cards, images
large in the lightbox, files downloaded under their own names with their bytes; a file the
server refuses shows its reason and sends nothing; the channel's Files panel pages through
them. No console error, page error or CSP violation is allowed (images come through blob:
URLs), except Chromium's own line for the refusal the test provokes."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.browser import Tab, needs_chromium
from tests.web.chat import Chat, composer, message, messages, no_problems, open_channel, png

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect

NOTES = b"Minutes of Monday\nThe build is green; ship on Friday.\n"

# A DataTransfer holding files made in the page, as a drop or a paste carries them.
TRANSFER = """(files) => {
  const data = new DataTransfer();
  for (const [name, type, b64] of files) {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    data.items.add(new File([bytes], name, { type }));
  }
  return data;
}"""
PASTE = """(el, data) => el.dispatchEvent(
  new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }),
)"""
LOADED = "img => img.complete && img.naturalWidth > 0"


def transfer(tab: Tab, *files: tuple[str, str, bytes]) -> Any:
    encoded = [[name, kind, base64.b64encode(data).decode()] for name, kind, data in files]
    return tab.page.evaluate_handle(TRANSFER, encoded)


def upload_row(tab: Tab, name: str) -> Any:
    return tab.page.locator("ul.uploads > li", has_text=name)


def assert_loaded(image: Any) -> None:
    expect(image).to_have_attribute("data-loaded", "true")
    image.page.wait_for_function(LOADED, arg=image.element_handle())


def set_upload_limit(chat: Chat, max_bytes: int) -> None:
    r = httpx.patch(
        f"{chat.url}/api/admin/config",
        json={"files": {"max_upload_bytes": max_bytes}},
        headers={"Authorization": f"Bearer {chat.ada}"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


# -- tests ---------------------------------------------------------------------------------


def test_files_are_attached_sent_shown_and_downloaded(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    room = chat.channel("files", members=(chat.bob,))
    ada = chat.tab(browser, "ada")
    bob = chat.tab(browser, "bob", color_scheme="dark")
    open_channel(ada, chat, room["id"])
    open_channel(bob, chat, room["id"])

    # The first upload is held on its way, so its progress bar can be seen.
    held: list[Any] = []

    def hold_first(route: Any) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    ada.page.route("**/api/files", hold_first)

    # Two images through the file picker.
    with ada.page.expect_file_chooser() as chooser:
        ada.page.get_by_role("button", name="Attach files").click()
    chooser.value.set_files(
        [
            {
                "name": "sunset.png",
                "mimeType": "image/png",
                "buffer": png(640, 400, (230, 120, 40)),
            },
            {"name": "dots.png", "mimeType": "image/png", "buffer": png(300, 300, (40, 90, 200))},
        ]
    )
    expect(ada.page.get_by_role("progressbar")).to_have_count(1)
    expect(ada.page.get_by_role("button", name="Send")).to_be_disabled()

    # A text file dropped on the conversation: the drop zone shows while it is dragged.
    data = transfer(ada, ("notes.txt", "text/plain", NOTES))
    timeline = ada.page.locator(".timeline")
    timeline.dispatch_event("dragenter", {"dataTransfer": data})
    expect(ada.page.locator(".drop-zone")).to_have_text("Drop files to attach them to your message")
    screenshot(ada, "files-drop-zone")
    timeline.dispatch_event("drop", {"dataTransfer": data})
    expect(ada.page.locator(".drop-zone")).to_have_count(0)
    expect(upload_row(ada, "notes.txt")).to_contain_text("ready")
    expect(ada.page.locator("ul.uploads > li")).to_have_count(3)
    expect(ada.page.get_by_role("progressbar")).to_have_count(1)
    composer(ada).fill("The plan, and two pictures")
    screenshot(ada, "files-composer-uploading")

    # Taken out before sending, then picked again.
    ada.page.get_by_role("button", name="Remove notes.txt").click()
    expect(upload_row(ada, "notes.txt")).to_have_count(0)
    timeline.dispatch_event(
        "drop", {"dataTransfer": transfer(ada, ("notes.txt", "text/plain", NOTES))}
    )
    expect(upload_row(ada, "notes.txt")).to_contain_text("ready")

    held[0].continue_()
    ada.page.unroute("**/api/files")
    expect(ada.page.get_by_role("progressbar")).to_have_count(0)
    expect(ada.page.get_by_role("button", name="Send")).to_be_enabled()
    composer(ada).press("Enter")
    expect(ada.page.locator("ul.uploads")).to_have_count(0)

    sent = message(ada, "The plan, and two pictures")
    expect(sent).not_to_have_class(re.compile("pending"))
    for image in sent.locator("img.thumbnail").all():
        assert_loaded(image)
    expect(sent.locator(".file-card")).to_contain_text("notes.txt")
    screenshot(ada, "files-message-with-images")

    # A message of one pasted image and no text.
    composer(ada).focus()
    clip = transfer(ada, ("image.png", "image/png", png(200, 120, (30, 160, 90))))
    composer(ada).evaluate(PASTE, clip)
    expect(upload_row(ada, "image.png")).to_contain_text("ready")
    ada.page.get_by_role("button", name="Send").click()
    expect(messages(ada)).to_have_count(2)
    # Shown at once (optimistic); stored once the server has answered.
    expect(messages(ada).last).not_to_have_class(re.compile("pending"))
    assert_loaded(messages(ada).last.locator("img.thumbnail"))
    stored = chat.get(f"/api/channels/{room['id']}/messages", chat.ada)["messages"]
    files_of = {m["text"]: [f["name"] for f in m["files"]] for m in stored}
    assert files_of[""] == ["image.png"]

    # Bob has them live; the images load, and open large.
    seen = message(bob, "The plan, and two pictures")
    thumbnails = seen.locator("img.thumbnail")
    expect(thumbnails).to_have_count(2)
    for image in thumbnails.all():
        assert_loaded(image)
    names = files_of["The plan, and two pictures"]
    assert sorted(names) == ["dots.png", "notes.txt", "sunset.png"]
    images = [n for n in names if n.endswith(".png")]
    opener = seen.get_by_role("button", name=f"Open {images[0]}")
    opener.click()
    box = bob.page.get_by_role("dialog")
    expect(box.get_by_role("heading")).to_have_text(images[0])
    assert_loaded(box.locator("img.lightbox-image"))
    assert box.locator("img.lightbox-image").evaluate("img => img.naturalWidth") > 400
    bob.page.keyboard.press("ArrowRight")
    expect(box.get_by_role("heading")).to_have_text(images[1])
    assert_loaded(box.locator("img.lightbox-image"))
    expect(box).to_contain_text("2 of 2")
    screenshot(bob, "files-lightbox")
    bob.page.keyboard.press("ArrowLeft")
    expect(box.get_by_role("heading")).to_have_text(images[0])
    bob.page.keyboard.press("Escape")
    expect(bob.page.get_by_role("dialog")).to_have_count(0)
    expect(opener).to_be_focused()

    # The text file downloads under its name, with its bytes.
    with bob.page.expect_download() as download:
        seen.get_by_role("button", name="Download notes.txt").click()
    assert download.value.suggested_filename == "notes.txt"
    assert Path(download.value.path()).read_bytes() == NOTES

    # The channel's files, newest first, in the panel the header opens.
    bob.page.get_by_role("button", name="Files", exact=True).click()
    panel = bob.page.get_by_role("complementary", name="Files")
    rows = panel.locator(".file-row")
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("image.png")
    expect(rows.nth(0)).to_contain_text("Ada Owner")
    assert_loaded(rows.first.locator("img.thumbnail"))
    screenshot(bob, "files-panel")
    with bob.page.expect_download() as download:
        panel.get_by_role("button", name="Download notes.txt").click()
    assert Path(download.value.path()).read_bytes() == NOTES
    panel.get_by_role("button", name="Close").click()
    expect(panel).to_have_count(0)
    no_problems(ada, bob)


def test_a_file_the_server_refuses_says_why_and_sends_nothing(
    chat: Chat, browser: Any, screenshot: Any
) -> None:
    room = chat.channel("refused")
    ada = chat.tab(browser, "ada")
    open_channel(ada, chat, room["id"])

    # A page that still believes in a higher limit (the config.updated event makes it read
    # /api/config again; here that still says 100 MB): the server is the one that refuses.
    def stale(route: Any) -> None:
        response = route.fetch()
        route.fulfill(response=response, json={**response.json(), "max_upload_bytes": 100 << 20})

    ada.page.route("**/api/config", stale)
    set_upload_limit(chat, 1024)
    try:
        with ada.page.expect_file_chooser() as chooser:
            ada.page.get_by_role("button", name="Attach files").click()
        chooser.value.set_files(
            {"name": "big.txt", "mimeType": "text/plain", "buffer": b"x" * 4096}
        )
        row = upload_row(ada, "big.txt")
        expect(row.get_by_role("alert")).to_have_text(
            "big.txt was not attached: "
            "The file is larger than this server accepts (at most 1.0 KB)."
        )
        expect(ada.page.get_by_role("button", name="Send")).to_be_disabled()
        composer(ada).press("Enter")
        screenshot(ada, "files-refused")

        # The next one is refused before it is sent: the page learnt the limit.
        with ada.page.expect_file_chooser() as chooser:
            ada.page.get_by_role("button", name="Attach files").click()
        chooser.value.set_files(
            {"name": "bigger.txt", "mimeType": "text/plain", "buffer": b"y" * 2048}
        )
        expect(upload_row(ada, "bigger.txt").get_by_role("alert")).to_contain_text("at most 1.0 KB")
        ada.page.get_by_role("button", name="Remove big.txt").click()
        ada.page.get_by_role("button", name="Remove bigger.txt").click()
        expect(ada.page.locator("ul.uploads")).to_have_count(0)
    finally:
        set_upload_limit(chat, 100 * 1024 * 1024)
    assert chat.texts(room["id"]) == []
    expect(messages(ada)).to_have_count(0)
    no_problems(ada, allow=re.compile(r"status of 413 .*/api/files\)$"))


def test_the_files_panel_pages_through_a_channel(chat: Chat, browser: Any) -> None:
    room = chat.channel("archive")
    ids = [
        chat.upload(chat.ada, f"report-{n:02}.txt", f"report {n}\n".encode())["id"]
        for n in range(35)
    ]
    for start in range(0, len(ids), 10):
        body = {
            "channel_id": room["id"],
            "text": f"batch {start}",
            "file_ids": ids[start : start + 10],
        }
        chat.post("/api/messages", chat.ada, body)
    ada = chat.tab(browser, "ada", viewport={"width": 375, "height": 740})
    open_channel(ada, chat, room["id"])
    ada.page.get_by_role("button", name="Files", exact=True).click()
    panel = ada.page.get_by_role("complementary", name="Files")
    rows = panel.locator(".file-row")
    expect(rows).to_have_count(30)
    expect(rows.first).to_contain_text("report-34.txt")
    panel.get_by_role("button", name="Load more files").click()
    expect(rows).to_have_count(35)
    expect(rows.last).to_contain_text("report-00.txt")
    expect(panel.get_by_role("button", name="Load more files")).to_have_count(0)
    # Nothing scrolls sideways on a phone.
    assert ada.page.evaluate("document.documentElement.scrollWidth") <= 375
    ada.page.keyboard.press("Escape")
    expect(panel).to_have_count(0)
    no_problems(ada)
