"""CORS for configured origins only; WebSockets from a foreign page are refused, from this
server's own pages, configured origins and non-browser clients let in."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from starlette.types import Receive, Scope, Send
from websockets.exceptions import InvalidStatus

from nchat.http_edge.origins import WebSocketOrigin
from tests.fixtures.factories import UserFactory
from tests.http_edge.conftest import client_of, started
from tests.realtime.conftest import LiveServer, start_live, stop_live

APP_ORIGIN = "https://app.example.com"
EVIL = "https://evil.example.net"


async def test_no_cors_headers_without_configured_origins(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/health/live", headers={"Origin": APP_ORIGIN})
    assert r.status_code == 200
    assert not [name for name in r.headers if name.startswith("access-control-")]
    preflight = await client.options(
        "/api/messages",
        headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_configured_origins_get_cors(database_url: str, tmp_path: Path) -> None:
    async with (
        started(database_url, tmp_path, cors_origins=[APP_ORIGIN + "/"]) as app,
        client_of(app) as client,
    ):
        preflight = await client.options(
            "/api/messages",
            headers={
                "Origin": APP_ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        simple = await client.get("/api/health/live", headers={"Origin": APP_ORIGIN})
        foreign = await client.get("/api/health/live", headers={"Origin": EVIL})
        too_large = await client.post(
            "/api/auth/signin",
            headers={"Origin": APP_ORIGIN, "Content-Length": str(10**9)},
        )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "PATCH" in preflight.headers["access-control-allow-methods"]
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in preflight.headers
    assert preflight.headers["x-content-type-options"] == "nosniff"
    assert simple.headers["access-control-allow-origin"] == APP_ORIGIN
    exposed = simple.headers["access-control-expose-headers"].lower()
    assert "retry-after" in exposed and "x-request-id" in exposed
    assert "access-control-allow-origin" not in foreign.headers
    # A refusal a page can read.
    assert too_large.status_code == 413
    assert too_large.headers["access-control-allow-origin"] == APP_ORIGIN


def ws_origin(live: LiveServer, origin: str | None, token: str, path: str = "/api/ws") -> Any:
    url = f"ws://127.0.0.1:{live.port}{path}?token={token}"
    return websockets.connect(url, origin=websockets.Origin(origin) if origin else None)


async def hello(live: LiveServer, origin: str | None, token: str) -> dict[str, Any]:
    async with ws_origin(live, origin, token) as ws, asyncio.timeout(10):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] == "hello":
                return frame


async def refused(live: LiveServer, origin: str, token: str, path: str = "/api/ws") -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with ws_origin(live, origin, token, path):
            pass
    response = caught.value.response
    assert response.status_code == 403
    assert orjson.loads(response.body)["error"]["code"] == "origin_not_allowed"


async def test_websockets_from_a_foreign_page_are_refused(
    database_url: str, tmp_path: Path, clean_db: None, make_user: UserFactory
) -> None:
    ada = await make_user()
    live = await start_live(database_url, tmp_path)
    try:
        await refused(live, EVIL, ada.access_token)
        await refused(live, "null", ada.access_token)  # sandboxed frames, file: pages
        await refused(live, EVIL, ada.access_token, "/graphql")
        # This server's own pages: the Origin names the Host the socket was opened to.
        own = await hello(live, f"http://127.0.0.1:{live.port}", ada.access_token)
        assert own["user_id"] == str(ada.id)
        # No Origin at all: a native app or a command-line tool.
        assert (await hello(live, None, ada.access_token))["user_id"] == str(ada.id)
    finally:
        await stop_live(live)


async def test_websockets_from_configured_origins_are_let_in(
    database_url: str, tmp_path: Path, clean_db: None, make_user: UserFactory
) -> None:
    ada = await make_user()
    live = await start_live(database_url, tmp_path, cors_origins=[APP_ORIGIN])
    try:
        assert (await hello(live, APP_ORIGIN, ada.access_token))["user_id"] == str(ada.id)
        await refused(live, EVIL, ada.access_token)
    finally:
        await stop_live(live)


async def nothing(scope: Scope, receive: Receive, send: Send) -> None:
    pass


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("https://chat.example.com", b"chat.example.com", True),
        ("https://Chat.Example.com", b"chat.example.com", True),
        ("https://chat.example.com", b"chat.example.com:443", True),
        ("http://chat.example.com", b"chat.example.com:80", True),
        ("http://chat.example.com:8000", b"chat.example.com:8000", True),
        ("https://chat.example.com", b"chat.example.com:8443", False),
        ("https://chat.example.com:8443", b"chat.example.com", False),
        ("https://chat.example.com.evil.net", b"chat.example.com", False),
        ("https://chat.example.com", b"", False),
        ("chat.example.com", b"chat.example.com", False),
        (APP_ORIGIN, b"chat.example.com", True),
    ],
)
def test_origin_matching(origin: str, host: bytes, allowed: bool) -> None:
    check = WebSocketOrigin(nothing, origins=[APP_ORIGIN.upper() + "/"])
    assert check.allows(origin, host) is allowed
