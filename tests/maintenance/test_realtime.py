"""Every socket hears maintenance mode start and end (events from the log, for everyone),
and a socket that connects meanwhile is told in its hello."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from nchat.realtime.events import EVENT_DATA
from tests.fixtures.factories import UserFactory
from tests.maintenance.conftest import PATH, turn_off
from tests.realtime.conftest import LiveServer, start_live, stop_live

TIMEOUT = 10.0


@pytest.fixture
async def live(database_url: str, tmp_path: Path, clean_db: None) -> AsyncIterator[LiveServer]:
    server = await start_live(database_url, tmp_path)
    try:
        yield server
    finally:
        await turn_off(server.app)
        await stop_live(server)


async def frame(ws: ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        while True:
            data: dict[str, Any] = json.loads(await ws.recv())
            if data["type"] == kind:
                return data


async def maintenance_event(ws: ClientConnection) -> dict[str, Any]:
    while True:
        event: dict[str, Any] = (await frame(ws, "event"))["event"]
        if event["type"].startswith("maintenance."):
            EVENT_DATA[event["type"]].model_validate(event["data"])
            return event


async def test_sockets_hear_it_start_and_end(live: LiveServer, make_user: UserFactory) -> None:
    owner = await make_user("owner")
    member = await make_user("member")
    guest = await make_user("guest")
    base = f"http://127.0.0.1:{live.port}"
    async with (
        httpx.AsyncClient(base_url=base, timeout=TIMEOUT) as http,
        websockets.connect(live.ws_url(member.access_token)) as before,
    ):
        hello = await frame(before, "hello")
        assert hello["maintenance"] == {
            "enabled": False,
            "message": None,
            "allow_admins": None,
            "retry_after_s": None,
            "started_at": None,
        }

        on = await http.put(
            PATH, headers=owner.headers, json={"message": "Upgrading", "retry_after_s": 30}
        )
        assert on.status_code == 200, on.text
        started = await maintenance_event(before)
        assert started["type"] == "maintenance.started" and started["channel_id"] is None
        assert started["data"]["enabled"] is True
        assert started["data"]["message"] == "Upgrading"
        assert started["data"]["retry_after_s"] == 30

        # Connecting meanwhile: the hello says so. Typing over the socket is harmless.
        async with websockets.connect(live.ws_url(guest.access_token)) as during:
            hello = await frame(during, "hello")
            assert hello["maintenance"]["enabled"] is True
            assert hello["maintenance"]["message"] == "Upgrading"
            await during.send(json.dumps({"type": "ping"}))
            await frame(during, "pong")

            changed = await http.put(PATH, headers=owner.headers, json={"message": "Nearly done"})
            assert changed.status_code == 200
            for ws in (before, during):
                updated = await maintenance_event(ws)
                assert updated["type"] == "maintenance.updated"
                assert updated["data"]["message"] == "Nearly done"

            assert (await http.delete(PATH, headers=owner.headers)).status_code == 200
            for ws in (before, during):
                ended = await maintenance_event(ws)
                assert ended["type"] == "maintenance.ended"
                assert ended["data"]["enabled"] is False

        # Resuming from the cursor of the hello that said "on": what followed, in order.
        cursor = hello["cursor"]
        async with websockets.connect(live.ws_url(member.access_token, since=cursor)) as again:
            assert (await frame(again, "hello"))["maintenance"]["enabled"] is False
            kinds = [(await maintenance_event(again))["type"] for _ in range(2)]
            assert kinds == ["maintenance.updated", "maintenance.ended"]
