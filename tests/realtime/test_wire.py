"""Events framed once and written straight to uncompressed sockets (realtime/wire.py), with
the ordinary queued send for compressed sockets and whenever a transport pushes back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from nchat.realtime.hub import Subscriber
from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api
from tests.realtime.conftest import LiveServer, start_live, stop_live
from tests.realtime.nodes import eventually
from tests.realtime.test_gateway import event_of, frame


async def subscriber(live: LiveServer, user: MadeUser, *, direct: bool = True) -> Subscriber:
    """The user's one socket's subscriber; with `direct`, once its send loop has taken the
    direct path (it does after the hello and any replay)."""
    found: list[Subscriber] = []

    async def ready() -> bool:
        subs = live.app.state.hub.subscribers_of(user.id)
        if len(subs) != 1:
            return False
        sub: Subscriber = subs[0]
        found[:] = [sub]
        return not direct or (sub.direct is not None and not sub.sending and sub.queue.empty())

    await eventually(ready, what="the socket's subscriber")
    return found[0]


def record_queue(sub: Subscriber, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    queued: list[bytes] = []
    put = sub.queue.put_nowait

    def recording(item: bytes) -> None:
        queued.append(item)
        put(item)

    monkeypatch.setattr(sub.queue, "put_nowait", recording)
    return queued


def message_texts(frames: list[bytes]) -> list[str]:
    events = [json.loads(f).get("event") or {} for f in frames]
    return [e["data"]["text"] for e in events if e.get("type") == "message.created"]


async def texts(ws: Any, n: int) -> list[str]:
    return [(await event_of(ws, "message.created"))["data"]["text"] for _ in range(n)]


@pytest.fixture
async def live_deflate(
    database_url: str, tmp_path: Path, clean_db: None
) -> AsyncIterator[LiveServer]:
    server = await start_live(database_url, tmp_path, ws_compression=True)
    yield server
    await stop_live(server)


async def test_uncompressed_sockets_skip_the_queue_and_compressed_ones_use_it(
    live_deflate: LiveServer, make_user: UserFactory, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = live_deflate
    ada = await make_user()
    bob = await make_user()
    cy = await make_user()
    channel = await api.create_channel(ada, "wire", members=(bob, cy))
    plain = websockets.connect(live.ws_url(bob.access_token), compression=None)
    deflate = websockets.connect(live.ws_url(cy.access_token))  # offers permessage-deflate
    async with plain as ws_plain, deflate as ws_zip:
        await frame(ws_plain, "hello")
        await frame(ws_zip, "hello")
        assert [e.name for e in ws_zip.protocol.extensions] == ["permessage-deflate"]
        direct_sub = await subscriber(live, bob)
        queued_sub = await subscriber(live, cy, direct=False)
        assert direct_sub.direct is not None
        assert queued_sub.direct is None  # compressed: framed per socket
        direct_queued = record_queue(direct_sub, monkeypatch)
        zip_queued = record_queue(queued_sub, monkeypatch)
        sent = [(await api.send(ada, channel["id"], f"m{i}"))["text"] for i in range(5)]
        assert await texts(ws_plain, 5) == sent
        assert await texts(ws_zip, 5) == sent
        assert message_texts(direct_queued) == []
        assert message_texts(zip_queued) == sent


async def test_a_transport_that_pushes_back_queues_frames_and_keeps_their_order(
    live: LiveServer, make_user: UserFactory, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = await make_user()
    bob = await make_user()
    channel = await api.create_channel(ada, "order", members=(bob,))
    async with websockets.connect(live.ws_url(bob.access_token), compression=None) as ws:
        await frame(ws, "hello")
        sub = await subscriber(live, bob)
        assert sub.direct is not None
        queued = record_queue(sub, monkeypatch)
        sent = [(await api.send(ada, channel["id"], f"a{i}"))["text"] for i in range(3)]
        assert await texts(ws, 3) == sent
        assert message_texts(queued) == []
        # What asyncio does when the transport's buffer passes its high-water mark.
        sub.direct.protocol.pause_writing()
        held = [(await api.send(ada, channel["id"], f"b{i}"))["text"] for i in range(4)]

        async def all_held() -> bool:
            return len(message_texts(queued)) == len(held)

        await eventually(all_held, what="the held frames queued")
        sub.direct.protocol.resume_writing()
        after = [(await api.send(ada, channel["id"], f"c{i}"))["text"] for i in range(4)]
        assert await texts(ws, 8) == held + after
        assert message_texts(queued) == held
