"""Sockets are bounded per user (on every node) and per socket (frames)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.cli.main import WS_MAX_FRAME_BYTES
from nchat.graphql import subscriptions
from nchat.realtime import presence
from tests.fixtures.factories import UserFactory
from tests.realtime.conftest import start_live, stop_live
from tests.realtime.test_gateway import frame
from tests.realtime.test_graphql_subscriptions import gql_socket, message, subscribe
from tests.realtime.test_revocation import closed_with


async def test_a_user_holds_at_most_the_configured_sockets_across_nodes(
    database_url: str,
    tmp_path: Path,
    clean_db: None,
    make_user: UserFactory,
    engine: AsyncEngine,
) -> None:
    one = await start_live(
        database_url, tmp_path / "one", ws_max_per_user=2, rate_limit_exempt_roles=["admin"]
    )
    two = await start_live(database_url, tmp_path / "two", ws_max_per_user=2)
    try:
        bob, boss = await make_user(), await make_user("admin")
        async with contextlib.AsyncExitStack() as stack:
            for live in (one, two):
                ws = await stack.enter_async_context(
                    websockets.connect(live.ws_url(bob.access_token))
                )
                await frame(ws, "hello")
            # The third, on either node, is refused with a reason and 4029.
            third = await stack.enter_async_context(
                websockets.connect(one.ws_url(bob.access_token))
            )
            refused = await frame(third, "error")
            assert refused["error"]["code"] == "too_many_sockets"
            assert (await closed_with(third))[0] == 4029
            # An exempt role is not counted against.
            for _ in range(3):
                ws = await stack.enter_async_context(
                    websockets.connect(one.ws_url(boss.access_token))
                )
                await frame(ws, "hello")
        # Once closed, they no longer count: the servers tear the sockets down after the
        # client has gone, so wait for their rows to say so.
        grace_s = one.app.state.presence_keeper.grace_s
        async with asyncio.timeout(5):
            while True:
                async with engine.connect() as conn:
                    if await presence.open_sockets(conn, bob.id, grace_s) == 0:
                        break
                await asyncio.sleep(0.05)
        async with websockets.connect(two.ws_url(bob.access_token)) as ws:
            await frame(ws, "hello")
    finally:
        await stop_live(two)
        await stop_live(one)


async def test_a_flood_of_frames_closes_the_socket(
    database_url: str, tmp_path: Path, clean_db: None, make_user: UserFactory
) -> None:
    live = await start_live(database_url, tmp_path)
    try:
        bob = await make_user()
        async with websockets.connect(live.ws_url(bob.access_token)) as ws:
            await frame(ws, "hello")
            for _ in range(200):
                await ws.send(json.dumps({"type": "ping"}))
            assert await closed_with(ws, timeout=5) == (4029, "too many frames")
        # A client that keeps to a sane pace is never cut off.
        async with websockets.connect(live.ws_url(bob.access_token)) as ws:
            await frame(ws, "hello")
            for _ in range(40):
                await ws.send(json.dumps({"type": "ping"}))
                await frame(ws, "pong")
    finally:
        await stop_live(live)


async def test_an_oversized_frame_closes_the_socket(
    database_url: str, tmp_path: Path, clean_db: None, make_user: UserFactory
) -> None:
    live = await start_live(database_url, tmp_path)
    try:
        bob = await make_user()
        async with websockets.connect(live.ws_url(bob.access_token), max_size=None) as ws:
            await frame(ws, "hello")
            await ws.send(json.dumps({"type": "ping", "pad": "x" * WS_MAX_FRAME_BYTES}))
            assert (await closed_with(ws, timeout=5))[0] == 1009  # message too big
    finally:
        await stop_live(live)


async def test_signals_share_one_budget_per_user_across_sockets(
    database_url: str, tmp_path: Path, clean_db: None, make_user: UserFactory
) -> None:
    live = await start_live(database_url, tmp_path, rate_signals_burst=3, rate_signals_per_min=6)
    try:
        bob = await make_user()
        subscribe = json.dumps({"type": "presence_subscribe", "user_ids": [str(bob.id)]})
        async with (
            websockets.connect(live.ws_url(bob.access_token)) as one,
            websockets.connect(live.ws_url(bob.access_token)) as two,
        ):
            await frame(one, "hello")
            await frame(two, "hello")
            for ws in (one, two, one):
                await ws.send(subscribe)
                await frame(ws, "presence_state")
            await two.send(json.dumps({"type": "presence", "status": "away"}))
            refused = await frame(two, "error")
            assert refused["for"] == "presence"
            assert refused["error"]["code"] == "rate_limited"
            assert 1 <= refused["error"]["details"]["retry_after"] <= 10
            # A refused signal changes nothing: the status stays what it was.
            transport = httpx.ASGITransport(app=live.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                r = await client.get(f"/api/presence?user_ids={bob.id}", headers=bob.headers)
            assert r.json()["presence"][0]["status"] == "online"
    finally:
        await stop_live(live)


async def test_graphql_subscriptions_are_bounded_per_connection_and_per_user(
    database_url: str,
    tmp_path: Path,
    clean_db: None,
    make_user: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(subscriptions, "MAX_STREAMS", 3)
    monkeypatch.setattr(subscriptions, "MAX_USER_STREAMS", 4)
    live = await start_live(database_url, tmp_path)
    bob = await make_user()
    sockets = [await gql_socket(live, bob), await gql_socket(live, bob)]
    try:
        for ws in sockets:
            await message(ws, "connection_ack")
        first, second = sockets

        async def subscribe_events(ws: Any, op_id: str) -> None:
            await subscribe(ws, op_id, "subscription { events { id } }")

        for op_id in ("a", "b", "c", "d"):
            await subscribe_events(first, op_id)
        refused = await message(first, "next")  # the 4th on one connection
        assert refused["id"] == "d"
        assert refused["payload"]["errors"][0]["extensions"]["code"] == "rate_limited"
        await subscribe_events(second, "e")  # the user's 4th stream
        await asyncio.sleep(0.3)
        await subscribe_events(second, "f")  # the 5th: over the user's bound
        refused = await message(second, "next")
        assert refused["id"] == "f"
        assert refused["payload"]["errors"][0]["extensions"]["code"] == "rate_limited"
    finally:
        for ws in sockets:
            await ws.close()
        await stop_live(live)
