"""The process's presence keeper: one statement per heartbeat keeps every socket seen, and a
socket whose row went stale brings its user back online, announced."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection

from tests.fixtures.factories import MadeUser, UserFactory
from tests.realtime.conftest import start_live, stop_live
from tests.realtime.test_gateway import TIMEOUT, connect, make_presence_stale

HEARTBEAT_S = 0.3


class Client:
    """A socket that answers the server's pings (as real clients do) and keeps the rest."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            data = json.loads(raw)
            if data["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
            else:
                await self.frames.put(data)

    async def next(self, kind: str) -> dict[str, Any]:
        async with asyncio.timeout(TIMEOUT):
            while True:
                data = await self.frames.get()
                if data["type"] == kind:
                    return data


async def _last_seen(engine: AsyncEngine, user: MadeUser) -> Any:
    async with engine.connect() as conn:
        return await conn.scalar(
            sa.text("SELECT max(last_seen) FROM nchat_presence WHERE user_id = :u"), {"u": user.id}
        )


async def test_keeper_refreshes_sockets_and_revives_stale_ones(
    database_url: str, tmp_path: Path, make_user: UserFactory, engine: AsyncEngine
) -> None:
    ada = await make_user()
    bob = await make_user()
    server = await start_live(database_url, tmp_path)
    server.app.state.ws_heartbeat_s = HEARTBEAT_S
    try:
        async with connect(server, ada) as a_ws, connect(server, bob) as b_ws:
            a, b = Client(a_ws), Client(b_ws)
            await a.next("hello")
            await b.next("hello")
            await a_ws.send(json.dumps({"type": "presence_subscribe", "user_ids": [str(bob.id)]}))
            await a.next("presence_state")
            first = await _last_seen(engine, bob)
            # Several heartbeats: the row keeps moving, nobody is dropped as idle.
            await asyncio.sleep(HEARTBEAT_S * 5)
            assert await _last_seen(engine, bob) > first
            assert not b.task.done() and not a.task.done()

            # Bob's row goes stale behind the keeper's back (as if a heartbeat write had been
            # lost): the next heartbeat takes the full path and tells everyone he is back. The
            # sweep may find the stale row first and announce him gone just before.
            await make_presence_stale(engine, bob)
            statuses: list[str] = []
            while "online" not in statuses:
                seen = await a.next("presence")
                if seen["user_id"] == str(bob.id):
                    statuses.append(seen["status"])
            assert statuses in (["online"], ["offline", "online"])
            a.task.cancel()
            b.task.cancel()
    finally:
        await stop_live(server)
