"""The process's presence keeper: one statement per heartbeat keeps every socket seen, and a
socket whose row went stale brings its user back online, announced."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection

from nchat.realtime import presence
from nchat.realtime.bus import PostgresBus
from nchat.realtime.topics import EPHEMERAL
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


async def test_two_nodes_sweeping_at_once_announce_a_gone_user_once(
    database_url: str, make_user: UserFactory, engine: AsyncEngine
) -> None:
    """Every node sweeps. Two sweeps that both find a user's rows stale, and then wait for
    the user's lock, announce the user offline once: the one that deleted the rows."""
    bob = await make_user()
    async with engine.begin() as conn:  # a socket on a node that died
        await presence.upsert(conn, uuid.uuid4(), bob.id, "online")
    heard: list[dict[str, Any]] = []
    listener, *nodes = [PostgresBus(database_url) for _ in range(3)]
    listener.listen(
        lambda topic, payload: (
            heard.append(json.loads(payload)["frame"]) if topic == EPHEMERAL else None
        )
    )
    for bus in (listener, *nodes):
        await bus.start()
        await asyncio.wait_for(bus.connected.wait(), TIMEOUT)
    try:
        async with engine.connect() as holder:
            await holder.begin()
            await presence.lock_user(holder, bob.id)
            # Stale only once locked: the app's own sweeper (every SWEEP_S) could otherwise
            # delete the row first, and these sweeps would find nothing to wait for.
            await make_presence_stale(engine, bob)
            sweeps = [asyncio.create_task(presence.sweep(engine, bus)) for bus in nodes]
            for _ in range(int(TIMEOUT / 0.02)):  # both found Bob stale and wait for him
                if await _waiting_on_advisory_locks(engine) >= 2:
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the two sweeps never waited on the user's lock")
            await holder.rollback()
        await asyncio.gather(*sweeps)
        await asyncio.sleep(0.5)  # both nodes' outboxes have gone out by now
    finally:
        for bus in (listener, *nodes):
            await bus.stop()
    about_bob = [f["status"] for f in heard if f["user_id"] == str(bob.id)]
    assert about_bob == ["offline"]


async def _waiting_on_advisory_locks(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        waiting: int = await conn.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
            )
        )
    return waiting


async def test_a_heartbeat_leaves_a_closed_sockets_row_to_expire(
    make_user: UserFactory, engine: AsyncEngine
) -> None:
    """A heartbeat that listed a socket just before it closed does not refresh the row its
    close marked: the user goes offline when the grace period ends, not a TTL later."""
    ada = await make_user()
    open_socket, closed_socket = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        for socket in (open_socket, closed_socket):
            await presence.upsert(conn, socket, ada.id, "online")
        await presence.leave(conn, closed_socket, grace_s=presence.GRACE_S)
    async with engine.begin() as conn:
        kept = await presence.refresh(conn, [open_socket, closed_socket], presence.GRACE_S)
    assert kept == {open_socket}
    async with engine.connect() as conn:
        expiring = await conn.scalar(
            sa.text(
                "SELECT last_seen < now() - interval '50 seconds' FROM nchat_presence"
                " WHERE connection_id = :c"
            ),
            {"c": closed_socket},
        )
    assert expiring is True
