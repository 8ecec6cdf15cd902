"""Fixtures of the web client's browser tests: a browser with one tab, the directory
screenshots go to (NCHAT_TEST_ARTIFACTS, else a temporary one), named at the end of the run,
and `chat`: a `nchat serve` with two people (one per test module; see tests/web/chat.py).
Browser test modules use `console_report` too, so a failure shows what each tab said."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.processes import nchat_env, throwaway_database
from tests.web.browser import Tab, launch, new_tab
from tests.web.chat import Chat

ARTIFACTS_ENV = "NCHAT_TEST_ARTIFACTS"
_SCREENSHOT_DIRS: set[str] = set()


@pytest.fixture
def browser() -> Iterator[Any]:
    with launch() as running:
        yield running


@pytest.fixture
def page(browser: Any) -> Tab:
    return new_tab(browser)


@pytest.fixture(scope="module")
def chat(server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chat]:
    tmp = tmp_path_factory.mktemp("chat")
    unlimited = {
        f"NCHAT_RATE_{name}": "100000"
        for name in ("SEND_PER_MIN", "SEND_BURST", "SIGNALS_PER_MIN", "SIGNALS_BURST")
    }
    with throwaway_database(server_url) as url:
        running = Chat(nchat_env(tmp / "data", url, **unlimited), tmp)
        try:
            yield running
        finally:
            running.close()


@pytest.fixture
def console_report(chat: Chat) -> Iterator[None]:
    """What each tab's console said, printed after the test (pytest shows it on a failure)."""
    chat.tabs.clear()
    yield
    for login, tab in chat.tabs:
        print(f"-- {login}'s console --", *tab.console[-60:], sep="\n")


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get(ARTIFACTS_ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture
def screenshot(artifacts: Path, record_property: Any) -> Any:
    """`screenshot(tab, "name")`: the whole page as artifacts/name.png."""
    record_property("screenshots", str(artifacts))

    def take(tab: Tab, name: str) -> Path:
        path = artifacts / f"{name}.png"
        tab.page.screenshot(path=str(path))
        return path

    return take


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Runs on the controller for reports from xdist workers too.
    for name, value in report.user_properties:
        if name == "screenshots":
            _SCREENSHOT_DIRS.add(str(value))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for path in sorted(_SCREENSHOT_DIRS):
        terminalreporter.write_line(f"web client screenshots: {path}")
