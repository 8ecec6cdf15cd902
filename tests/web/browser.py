"""Driving Debian's Chromium through Playwright for the web client's tests: a browser, tabs
that collect every console error, page error and CSP violation (the page's policy is never
bypassed), and signed-in tabs that start from a session made through the API."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

try:
    from playwright import sync_api as playwright
except ImportError:  # without the test extras: the browser tests skip, saying so
    playwright = None

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(
    playwright is None or shutil.which(str(CHROMIUM)) is None,
    reason="Playwright or Debian's chromium is not installed",
)
PASSWORD = "a long passphrase"
TIMEOUT_MS = 15_000
if playwright is not None:
    # Assertions wait as long as actions do: on a loaded machine a lazily loaded panel or a
    # search can take longer than Playwright's default 5 s, and the tests are about what
    # appears, not how fast (bench/web.py measures that).
    playwright.expect.set_options(timeout=TIMEOUT_MS)
# Every CSP violation reaches the console as an error (installed by Playwright before the
# page's own scripts, outside the page's CSP).
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI}`);
});
"""


class Tab:
    """A page in a context of its own (its own storage: one person), and the problems it
    reported."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.problems: list[str] = []
        self.console: list[str] = []  # everything said, for a failure's report

        def console(message: Any) -> None:
            self.console.append(f"{message.type}: {message.text}")
            if message.type == "error":
                self.problems.append(f"{message.text} ({message.location.get('url')})")

        page.on("console", console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("pageerror", lambda error: self.console.append(f"page error: {error}"))
        page.set_default_timeout(TIMEOUT_MS)


@contextmanager
def launch() -> Iterator[Any]:
    """A fresh headless Chromium. Started per test, after the server: while Playwright's sync
    API runs, its event loop is this thread's, and the database fixtures need asyncio.run."""
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--headless", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


def new_tab(browser: Any, *, storage_state: dict[str, Any] | None = None, **options: Any) -> Tab:
    context = browser.new_context(storage_state=storage_state, **options)
    context.add_init_script(REPORT_VIOLATIONS)
    return Tab(context.new_page())


def signed_in_tab(browser: Any, base_url: str, login: str, **options: Any) -> Tab:
    """A tab whose storage holds a refresh token of a new session of `login` (as a reload
    after signing in would): the client resumes it on its first load."""
    r = httpx.post(
        f"{base_url}/api/auth/signin", json={"login": login, "password": PASSWORD}, timeout=10
    )
    assert r.status_code == 200, r.text
    state = {
        "cookies": [],
        "origins": [
            {
                "origin": base_url,
                "localStorage": [
                    {"name": "nchat.refresh_token", "value": r.json()["refresh_token"]},
                    {"name": "nchat.debug", "value": "1"},
                ],
            }
        ],
    }
    return new_tab(browser, storage_state=state, **options)
