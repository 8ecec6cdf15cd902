"""The XSS corpus (tests/messaging/xss_corpus.json) through the whole path a person sees:
sent over HTTP, rendered by the server, delivered to the other person's browser in history
and live, and put on the page. The test fails if anything runs: a dialog, a call of alert,
confirm, prompt or print (replaced before the page's own scripts by ones that record the
call), a console or page error, or a CSP violation, which would mean markup got past the
sanitiser and only the policy stopped it. Each message is hovered, as handlers on
mouseover would otherwise wait for a person, and the page's message bodies are checked for
anything that can run."""

from __future__ import annotations

from typing import Any

import pytest

from tests.messaging.xss import corpus
from tests.web.browser import Tab, needs_chromium
from tests.web.chat import Chat, message, messages, no_problems, open_channel

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = [needs_chromium, pytest.mark.usefixtures("console_report")]
expect = playwright.expect

# Per channel: every case of a channel fits the first page the client loads.
PER_CHANNEL = 50
SCRIPT = "<script>alert(1)</script>"
TRAPS = """
window.__ran = [];
for (const name of ["alert", "confirm", "prompt", "print"]) {
  window[name] = (...args) => {
    window.__ran.push(`${name}(${args.map(String).join(", ")})`);
    console.error(`script ran: ${name}`);
  };
}
"""
# What may not be in a message body on the page, whatever the server sent.
RUNNABLE = """
(bodies) => {
  const found = [];
  for (const body of bodies) {
    for (const el of body.querySelectorAll("*")) {
      const tag = el.tagName.toLowerCase();
      if (["script", "iframe", "object", "embed", "svg", "math", "form", "img", "style",
           "link", "meta", "base", "video", "audio", "template", "frame"].includes(tag)) {
        found.push(`<${tag}>`);
      }
      for (const attr of el.attributes) {
        if (attr.name.startsWith("on") || attr.name === "style" || attr.name === "srcdoc") {
          found.push(`${attr.name} on <${tag}>`);
        }
      }
      const href = el.getAttribute("href");
      if (href !== null && !/^(https?:|mailto:|\\/)/i.test(href.trim())) {
        found.push(`href ${href}`);
      }
    }
  }
  return found;
}
"""


def trap(tab: Tab) -> list[str]:
    """Record (and dismiss) every dialog the page opens, and install the traps."""
    dialogs: list[str] = []

    def record(d: Any) -> None:
        dialogs.append(d.message)
        d.dismiss()

    tab.page.on("dialog", record)
    tab.page.add_init_script(TRAPS)
    return dialogs


def nothing_ran(tab: Tab, dialogs: list[str]) -> None:
    bodies = tab.page.locator("ol.messages .message-body")
    for i in range(bodies.count()):
        bodies.nth(i).hover()
    assert tab.page.evaluate("window.__ran") == []
    assert dialogs == []
    assert tab.page.evaluate(RUNNABLE, bodies.element_handles()) == []


def test_the_xss_corpus_runs_nothing_in_the_browser(chat: Chat, browser: Any) -> None:
    cases = corpus()
    bob = chat.tab(browser, "bob")
    dialogs = trap(bob)
    quiet = chat.channel("xss-live", members=(chat.bob,))
    open_channel(bob, chat, quiet["id"])

    # Live: the first cases arrive over Bob's socket while he looks at the channel.
    live_cases = cases[:PER_CHANNEL]
    for text in live_cases:
        chat.send(chat.ada, quiet["id"], text)
    expect(messages(bob)).to_have_count(len(live_cases))
    nothing_ran(bob, dialogs)
    # Shown as text, not swallowed: the payload is there for the reader to see.
    assert SCRIPT in live_cases
    expect(message(bob, SCRIPT)).to_have_count(1)

    # History: the rest, already there when he opens each channel.
    for start in range(PER_CHANNEL, len(cases), PER_CHANNEL):
        batch = cases[start : start + PER_CHANNEL]
        channel = chat.channel("xss", members=(chat.bob,))
        for text in batch:
            chat.send(chat.ada, channel["id"], text)
        open_channel(bob, chat, channel["id"])
        expect(messages(bob)).to_have_count(len(batch))
        nothing_ran(bob, dialogs)
    no_problems(bob)
