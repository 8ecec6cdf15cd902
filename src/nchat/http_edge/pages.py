"""Content-Security-Policy of a page nchat does not write itself, derived from the page.

nchat's own pages (the web client, the API docs) load files of this origin only and set
one fixed policy themselves (`headers.PAGE_POLICY`). A third-party page (GraphiQL, in
development) is allowed exactly what its markup loads: each external script and
stylesheet by its URL, each inline script and style by the sha256 of its text, icons and
images by URL. What the markup cannot show (requests the page's scripts make) is added by
the caller."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from html.parser import HTMLParser

from strawberry.http.ides import get_graphql_ide_html

# Where the GraphQL router serves GraphiQL (development only).
GRAPHIQL_PATH = "/graphql"

# Nothing but what is listed; no <base>, no form posts, never framed.
_FIRST = ("default-src 'none'",)
_LAST = ("base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'")
# GraphiQL posts queries and opens subscriptions (ws:/wss:, covered by 'self') here.
_GRAPHIQL_EXTRA = {"connect-src": ("'self'",)}


class _Loads(HTMLParser):
    """Collects the sources a page loads, per CSP directive."""

    def __init__(self) -> None:
        super().__init__()
        self.sources: dict[str, list[str]] = {}
        self._inline: str | None = None  # the directive of the inline element being read
        self._text: list[str] = []

    def add(self, directive: str, source: str) -> None:
        known = self.sources.setdefault(directive, [])
        if source not in known:
            known.append(source)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        rel = set(attr.get("rel", "").lower().split())
        if tag == "script" and attr.get("src"):
            self.add("script-src", attr["src"])
        elif tag in ("script", "style"):
            self._inline = "script-src" if tag == "script" else "style-src"
            self._text = []
        elif tag == "link" and "stylesheet" in rel and attr.get("href"):
            self.add("style-src", attr["href"])
        elif tag == "link" and "icon" in rel and attr.get("href"):
            self.add("img-src", _source(attr["href"]))
        elif tag == "img" and attr.get("src"):
            self.add("img-src", _source(attr["src"]))

    def handle_data(self, data: str) -> None:
        if self._inline is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._inline is not None and tag in ("script", "style"):
            digest = hashlib.sha256("".join(self._text).encode()).digest()
            self.add(self._inline, f"'sha256-{base64.b64encode(digest).decode()}'")
            self._inline = None


def _source(url: str) -> str:
    # A data: URL is allowed by its scheme; CSP cannot name one URL of it.
    return "data:" if url.startswith("data:") else url


def page_policy(html: str, extra: Mapping[str, Iterable[str]] | None = None) -> str:
    """The policy allowing what `html` loads, plus `extra` sources per directive."""
    loads = _Loads()
    loads.feed(html)
    loads.close()
    for directive, sources in (extra or {}).items():
        for source in sources:
            loads.add(directive, source)
    fetches = [f"{name} {' '.join(sources)}" for name, sources in sorted(loads.sources.items())]
    return "; ".join([*_FIRST, *fetches, *_LAST])


def html_pages(*, graphiql: bool) -> dict[str, str]:
    """The third-party HTML pages the app serves, by path, each with its policy.

    The pages are rendered here as their library renders them (a test compares the policy
    with the served page)."""
    pages: dict[str, str] = {}
    if graphiql:
        pages[GRAPHIQL_PATH] = page_policy(get_graphql_ide_html("graphiql"), _GRAPHIQL_EXTRA)
    return pages
