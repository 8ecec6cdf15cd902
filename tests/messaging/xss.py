"""The XSS corpus (xss_corpus.json: the OWASP filter-evasion strings, mutation XSS, polyglots
and Markdown's own ways to a script, multi-line cases included) and the check that a
message's html holds nothing that can run script. The browser test of the web client reads
the same file."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

CORPUS_PATH = Path(__file__).with_name("xss_corpus.json")

# What messages/render.py may emit, and nothing else.
TAGS = {
    *("p", "br", "hr", "blockquote", "pre", "code", "strong", "em", "s", "span", "a"),
    *("ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6"),
    *("table", "thead", "tbody", "tr", "th", "td"),
}
ATTRIBUTES = {
    "a": {"href", "title", "target", "rel"},
    "ol": {"start"},
    "code": {"class"},
    "span": {"class", "data-user-id", "data-channel-id", "data-mention"},
    "th": {"align"},
    "td": {"align"},
}
SAFE_HREF = re.compile(r"(https?|mailto):", re.IGNORECASE)
# Never in the raw HTML either, whatever a parser would make of it (text that spells them
# is escaped: "&lt;script").
RAW_NEVER = re.compile(
    r"<\s*/?\s*(script|iframe|object|embed|svg|math|form|input|button|img|style|link|meta|"
    r"base|frame|frameset|video|audio|source|details|template|textarea|select|isindex|xml)\b",
    re.IGNORECASE,
)


def corpus() -> list[str]:
    cases: list[str] = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))
    return cases


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            if name not in ATTRIBUTES.get(tag, set()):
                self.problems.append(f"attribute {name} on <{tag}>")
            elif name == "href" and not SAFE_HREF.match(value or ""):
                self.problems.append(f"href {value!r}")
            elif name == "target" and value != "_blank":
                self.problems.append(f"target {value!r}")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_comment(self, data: str) -> None:
        self.problems.append(f"comment {data!r}")

    def handle_pi(self, data: str) -> None:
        self.problems.append(f"processing instruction {data!r}")

    def handle_decl(self, decl: str) -> None:
        self.problems.append(f"declaration {decl!r}")


def assert_inert(html: str) -> None:
    """No script-capable markup: only the renderer's tags and attributes, links only to
    http(s) and mailto, no event handlers, styles, comments or declarations."""
    raw = RAW_NEVER.search(html)
    assert raw is None, f"{raw.group()!r} in {html!r}"
    parser = _Markup()
    parser.feed(html)
    parser.close()
    assert not parser.problems, f"{parser.problems} in {html!r}"
