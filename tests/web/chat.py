"""Two people chatting in browsers against a real `nchat serve`, for the web client's tests:
`Chat` (the server, which can be stopped and started again on the same port and database,
with Ada the owner and Bob a member) and the helpers that find things on their pages. The
`chat` fixture (one server per test module) and `console_report` are in conftest.py."""

from __future__ import annotations

import io
import re
import signal
import uuid
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from tests.fixtures.processes import Server
from tests.web import browser
from tests.web.browser import PASSWORD, Tab, signed_in_tab


def expect(target: Any) -> Any:
    """Playwright's `expect`; this module imports without Playwright (conftest.py uses it)."""
    assert browser.playwright is not None
    return browser.playwright.expect(target)


ADA = {"username": "ada", "display_name": "Ada Owner", "email": "ada@example.com"}
BOB = {"username": "bob", "display_name": "Bob Builder", "email": "bob@example.com"}
# The browser's own reports while the server is down: refused requests and sockets.
DOWN = re.compile(
    r"ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_INTERNET_DISCONNECTED"
    r"|WebSocket connection to .* failed"
)
SEEDED = 330  # past the client's bound of 300 loaded messages


class Chat:
    """A `nchat serve` that can be stopped and started again on the same port and database,
    with its owner (Ada) and a member (Bob), and their API tokens."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.starts = 0
        self.tabs: list[tuple[str, Tab]] = []  # opened by the running test
        self.server: Server | None = None
        self.port: int | None = None
        self.start()
        setup = self.post(
            "/api/setup", None, {"owner": {**ADA, "password": PASSWORD}, "app_name": "Acme Chat"}
        )
        self.ada = setup["access_token"]
        self.ada_id = setup["user"]["id"]
        self.bob_id = self.post("/api/users", self.ada, {**BOB, "password": PASSWORD})["id"]
        self.bob = self.post("/api/auth/signin", None, {"login": "bob", "password": PASSWORD})[
            "access_token"
        ]

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url

    def start(self) -> None:
        self.starts += 1
        self.server = Server(self.env, self.logs / f"serve-{self.starts}.log", port=self.port)
        self.port = self.server.port
        self.server.wait_healthy()

    def stop(self) -> None:
        assert self.server is not None
        self.server.send(signal.SIGTERM)
        self.server.wait_exit()

    def close(self) -> None:
        if self.server is not None:
            self.server.kill()

    def post(self, path: str, token: str | None, body: dict[str, Any]) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = httpx.post(f"{self.url}{path}", json=body, headers=headers, timeout=10)
        assert r.status_code in (200, 201), f"{path}: {r.status_code} {r.text}"
        return r.json()

    def get(self, path: str, token: str) -> Any:
        r = httpx.get(f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
        return r.json()

    def upload(self, token: str, name: str, data: bytes) -> dict[str, Any]:
        """An upload through POST /api/files, not attached to a message yet."""
        r = httpx.post(
            f"{self.url}/api/files",
            files={"file": (name, data)},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    def channel(self, prefix: str, *, members: tuple[str, ...] = ()) -> dict[str, Any]:
        """A new public channel of Ada's (a unique name), joined by each of `members`."""
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        channel = self.post("/api/channels", self.ada, {"name": name, "type": "public"})
        for token in members:
            self.post(f"/api/channels/{channel['id']}/join", token, {})
        return dict(channel)

    def send(self, token: str, channel_id: str, text: str) -> dict[str, Any]:
        return dict(self.post("/api/messages", token, {"channel_id": channel_id, "text": text}))

    def texts(self, channel_id: str) -> list[str | None]:
        page = self.get(f"/api/channels/{channel_id}/messages?limit=200", self.ada)
        return [m["text"] for m in page["messages"]]

    def tab(self, running: Any, login: str, **options: Any) -> Tab:
        tab = signed_in_tab(running, self.url, login, **options)
        self.tabs.append((login, tab))
        return tab


# -- helpers -------------------------------------------------------------------------------


def open_channel(tab: Tab, chat: Chat, channel_id: str) -> None:
    tab.page.goto(f"{chat.url}/channels/{channel_id}")
    expect(tab.page.get_by_role("textbox", name=re.compile("^Message "))).to_be_visible()


def composer(tab: Tab) -> Any:
    return tab.page.get_by_role("textbox", name=re.compile("^Message "))


def messages(tab: Tab) -> Any:
    return tab.page.locator("ol.messages > li.message")


def message(tab: Tab, text: str | re.Pattern[str]) -> Any:
    return messages(tab).filter(has=tab.page.locator(".message-body", has_text=text))


def seed(n: int) -> re.Pattern[str]:
    return re.compile(rf"^seed {n}$")


def sidebar_link(tab: Tab, name: str) -> Any:
    return tab.page.locator("#sidebar a.channel-link", has_text=name)


def say(tab: Tab, text: str) -> None:
    box = composer(tab)
    box.fill(text)
    box.press("Enter")


def no_problems(*tabs: Tab, allow: re.Pattern[str] | None = None) -> None:
    for tab in tabs:
        left = [p for p in tab.problems if allow is None or not allow.search(p)]
        assert left == [], left


def png(width: int, height: int, colour: tuple[int, int, int] = (230, 120, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()
