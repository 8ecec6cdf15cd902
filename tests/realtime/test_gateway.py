"""The WebSocket gateway over real sockets: auth, delivery, visibility, resume, typing,
slow consumers, heartbeats and restarts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.asyncio.client import ClientConnection

from nchat.gateway import api as gateway_api
from nchat.realtime import hub as hub_module
from nchat.realtime.events import EVENT_DATA
from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api
from tests.realtime.conftest import LiveServer, start_live, stop_live

TIMEOUT = 10.0


async def frame(ws: ClientConnection, kind: str = "event", timeout: float = TIMEOUT) -> Any:
    """The next frame of this type (pings and other frames in between are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            data = json.loads(await ws.recv())
            if data["type"] == kind:
                if kind == "event":
                    EVENT_DATA[data["event"]["type"]].model_validate(data["event"]["data"])
                return data


async def event_of(ws: ClientConnection, *types: str) -> dict[str, Any]:
    """The next event of these types. Others may come first: an event committed just before
    the socket connected reaches it once the hub reads it (by the cursor rules, correctly)."""
    while True:
        event: dict[str, Any] = (await frame(ws))["event"]
        if event["type"] in types:
            return event


async def events_until(
    ws: ClientConnection, predicate: Any, timeout: float = TIMEOUT
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not seen or not predicate(seen[-1]):
            seen.append((await frame(ws))["event"])
    return seen


async def no_event(ws: ClientConnection, wait: float = 0.5) -> None:
    with pytest.raises(TimeoutError):
        await frame(ws, timeout=wait)


def connect(live: LiveServer, user: MadeUser, **params: str) -> Any:
    return websockets.connect(live.ws_url(user.access_token, **params))


async def test_hello_then_live_events(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    bob = await make_user()
    channel = await api.create_channel(ada, "live", members=(bob,))
    async with connect(live, bob) as ws:
        hello = await frame(ws, "hello")
        assert hello["heartbeat_s"] > 0 and hello["cursor"] and hello["user_id"] == str(bob.id)
        sent = await api.send(ada, channel["id"], "hi bob")
        event = await event_of(ws, "message.created")
        assert event["type"] == "message.created"
        assert event["channel_id"] == channel["id"]
        assert event["data"] == {**sent, "reactions": []}
        await ws.send(json.dumps({"type": "ping"}))
        await frame(ws, "pong")


async def test_bad_tokens_close_with_4001_and_first_frame_auth_works(
    live: LiveServer, make_user: UserFactory
) -> None:
    for url in (live.ws_url("not-a-token"), live.ws_url()):
        async with websockets.connect(url) as ws:
            if "token" not in url:
                await ws.send(json.dumps({"type": "auth", "token": "nope"}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
    ada = await make_user()
    async with websockets.connect(live.ws_url()) as ws:
        await ws.send(json.dumps({"type": "auth", "token": ada.access_token}))
        assert (await frame(ws, "hello"))["user_id"] == str(ada.id)


async def test_only_visible_events_and_removal_takes_effect_at_once(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    bob = await make_user()
    private = await api.create_channel(ada, "inner", type_="private", members=(bob,))
    other = await api.create_channel(ada, "outer", type_="private")
    async with connect(live, bob) as ws:
        await frame(ws, "hello")
        await api.send(ada, other["id"], "not for bob")
        await api.send(ada, private["id"], "for bob")
        event = await event_of(ws, "message.created")
        assert event["data"]["text"] == "for bob"
        await client.delete(f"/api/channels/{private['id']}/members/{bob.id}", headers=ada.headers)
        left = await event_of(ws, "member.left")
        assert left["type"] == "member.left" and left["data"]["user_id"] == str(bob.id)
        await api.send(ada, private["id"], "after bob left")
        await no_event(ws)
        # Added again (and to a brand-new channel): delivery starts at once.
        await client.post(
            f"/api/channels/{private['id']}/members",
            headers=ada.headers,
            json={"user_ids": [str(bob.id)]},
        )
        joined = await event_of(ws, "member.joined")
        assert joined["type"] == "member.joined" and joined["data"]["channel"]["name"] == "inner"
        fresh = await api.create_channel(ada, "fresh", members=(bob,))
        created = await event_of(ws, "channel.created")
        assert created["type"] == "channel.created" and created["channel_id"] == fresh["id"]
        await api.send(ada, fresh["id"], "welcome")
        assert (await event_of(ws, "message.created"))["data"]["text"] == "welcome"


async def test_resume_from_cursor_misses_nothing_and_repeats_nothing(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    bob = await make_user()
    channel = await api.create_channel(ada, "resume", members=(bob,))
    async with connect(live, bob) as ws:
        await frame(ws, "hello")
        await api.send(ada, channel["id"], "m0")
        first = await event_of(ws, "message.created")
    for i in range(1, 6):
        await api.send(ada, channel["id"], f"m{i}")

    async def chatter() -> None:
        for i in range(6, 12):
            await api.send(ada, channel["id"], f"m{i}")

    async with connect(live, bob, since=first["id"]) as ws:
        hello = await frame(ws, "hello")
        assert hello["cursor"] == first["id"]
        writer = asyncio.create_task(chatter())
        seen = await events_until(ws, lambda e: e["data"].get("text") == "m11")
        await writer
        await no_event(ws, 0.3)
    assert [e["data"]["text"] for e in seen] == [f"m{i}" for i in range(1, 12)]
    assert len({e["id"] for e in seen}) == len(seen)


async def test_a_socket_opened_while_the_hub_starts_still_gets_its_replay(
    live: LiveServer,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node just restarted: its hub has not read the log's horizon yet when a client
    resumes. The socket waits for it, then replays what the client missed."""
    ada = await make_user()
    bob = await make_user()
    channel = await api.create_channel(ada, "restart", members=(bob,))
    async with connect(live, bob) as ws:
        await frame(ws, "hello")
        await api.send(ada, channel["id"], "m0")
        first = await event_of(ws, "message.created")
    for i in (1, 2):
        await api.send(ada, channel["id"], f"m{i}")

    horizon = hub_module.log.horizon

    async def slow_horizon(conn: Any) -> Any:
        await asyncio.sleep(0.5)
        return await horizon(conn)

    monkeypatch.setattr(hub_module.log, "horizon", slow_horizon)
    restarted = await start_live(database_url, tmp_path / "restarted")
    try:
        async with connect(restarted, bob, since=first["id"]) as ws:
            hello = await frame(ws, "hello")
            assert hello["cursor"] == first["id"]
            seen = await events_until(ws, lambda e: e["data"].get("text") == "m2")
    finally:
        await stop_live(restarted)
    assert [e["data"]["text"] for e in seen] == ["m1", "m2"]


async def test_old_or_bad_cursor_gets_resync_required(
    live: LiveServer, make_user: UserFactory
) -> None:
    ada = await make_user()
    for since in ("garbage", "MS4xLjE"):  # unreadable, and a cursor from 1970
        async with connect(live, ada, since=since) as ws:
            assert (await frame(ws, "resync_required"))["type"] == "resync_required"
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4009


async def test_typing_reaches_other_members_rate_limited(
    live: LiveServer, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    bob = await make_user()
    eve = await make_user()
    channel = await api.create_channel(ada, "typing", type_="private", members=(bob,))
    async with connect(live, ada) as a, connect(live, bob) as b, connect(live, eve) as e:
        for ws in (a, b, e):
            await frame(ws, "hello")
        for _ in range(3):
            await a.send(json.dumps({"type": "typing", "channel_id": channel["id"]}))
        signal = await frame(b, "typing")
        assert signal == {
            "type": "typing",
            "channel_id": channel["id"],
            "thread_id": None,
            "user_id": str(ada.id),
            "expires_in": 6,
        }
        with pytest.raises(TimeoutError):  # rate limited: one signal for the burst
            await frame(b, "typing", timeout=0.5)
        with pytest.raises(TimeoutError):  # not a member
            await frame(e, "typing", timeout=0.2)
        # Eve cannot type into a channel she is not in.
        await e.send(json.dumps({"type": "typing", "channel_id": channel["id"]}))
        with pytest.raises(TimeoutError):
            await frame(b, "typing", timeout=0.3)


async def test_typing_in_a_thread_names_it_and_a_bad_thread_is_refused(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    bob = await make_user()
    channel = await api.create_channel(ada, "thread-typing", type_="private", members=(bob,))
    elsewhere = await api.create_channel(ada, "elsewhere", type_="private", members=(bob,))
    root = await api.send(ada, channel["id"], "the plan")
    reply = await api.send(bob, channel["id"], "agreed", thread_id=root["id"])
    foreign = await api.send(ada, elsewhere["id"], "another channel's")
    gone = await api.send(ada, channel["id"], "soon deleted")
    r = await client.delete(f"/api/messages/{gone['id']}", headers=ada.headers)
    assert r.status_code == 204, r.text
    refused = [
        (foreign["id"], "thread_not_found"),
        (reply["id"], "thread_not_root"),
        (str(uuid.uuid4()), "thread_not_found"),
        (gone["id"], "thread_deleted"),
        ("not-a-uuid", "invalid_id"),
        (7, "invalid_id"),
    ]
    async with connect(live, ada) as a, connect(live, bob) as b:
        for ws in (a, b):
            await frame(ws, "hello")
        for thread_id, code in refused:
            await a.send(
                json.dumps({"type": "typing", "channel_id": channel["id"], "thread_id": thread_id})
            )
            answer = await frame(a, "error")
            assert answer["for"] == "typing" and answer["error"]["code"] == code, thread_id
        # Signals reach Bob in the order sent: had a refused one gone out, it would come
        # first. The thread's, then the channel's at once (another place, not a repeat).
        await a.send(
            json.dumps({"type": "typing", "channel_id": channel["id"], "thread_id": root["id"]})
        )
        await a.send(json.dumps({"type": "typing", "channel_id": channel["id"], "thread_id": None}))
        in_thread = await frame(b, "typing")
        assert in_thread == {
            "type": "typing",
            "channel_id": channel["id"],
            "thread_id": root["id"],
            "user_id": str(ada.id),
            "expires_in": 6,
        }
        assert (await frame(b, "typing"))["thread_id"] is None


async def test_slow_consumer_is_closed_with_4008_and_others_keep_going(
    live: LiveServer, make_user: UserFactory, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "QUEUE_SIZE", 4)
    # The server gives up on a close frame stuck behind unread data after CLOSE_TIMEOUT_S;
    # this reader only starts reading once the 300 sends are done, which a busy machine
    # may take longer than that for.
    monkeypatch.setattr(gateway_api, "CLOSE_TIMEOUT_S", 120.0)
    # Likewise the idle close (two heartbeats without a frame from the client, which this
    # reader never sends) and the keepalive pings of uvicorn and of the client library, which
    # a reader that reads nothing never answers: on a slow machine any of them would end the
    # socket first, with another code. This test is about the queue.
    monkeypatch.setattr(live.app.state, "ws_heartbeat_s", 120.0, raising=False)
    monkeypatch.setattr(live.server.config, "ws_ping_interval", None)
    ada = await make_user()
    bob = await make_user()
    channel = await api.create_channel(ada, "flood", members=(bob,))
    # A small receive buffer, so the unread bytes back up into the server quickly.
    # (And no compression, which would shrink the test's traffic to nothing.)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", live.port))
    slow_conn = websockets.connect(
        live.ws_url(bob.access_token),
        sock=sock,
        max_queue=1,
        compression=None,
        ping_interval=None,
    )
    async with slow_conn as slow, connect(live, ada) as fast:
        await frame(slow, "hello")
        await frame(fast, "hello")
        big = secrets.token_urlsafe(29_000)
        received = 0
        for i in range(300):
            await api.send(ada, channel["id"], f"{i} {big}")
            await event_of(fast, "message.created")
            received += 1
        assert received == 300  # the fast reader got every one, in time
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    await slow.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008


async def test_the_hello_carries_the_configured_heartbeat(
    database_url: str, tmp_path: Path, make_user: UserFactory
) -> None:
    ada = await make_user()
    server = await start_live(database_url, tmp_path, ws_heartbeat_s=7)
    try:
        async with connect(server, ada) as ws:
            assert (await frame(ws, "hello"))["heartbeat_s"] == 7
    finally:
        await stop_live(server)


async def test_idle_client_is_dropped_and_restart_closes_with_1012(
    database_url: str, tmp_path: Any, make_user: UserFactory
) -> None:
    ada = await make_user()
    server = await start_live(database_url, tmp_path)
    server.app.state.ws_heartbeat_s = 0.2
    try:
        async with connect(server, ada) as ws:
            await frame(ws, "hello")
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await ws.recv()  # never answers the pings
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4002
        server.app.state.ws_heartbeat_s = 30
        async with connect(server, ada) as ws:
            await frame(ws, "hello")
            server.server.should_exit = True
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(TIMEOUT):
                    while True:
                        await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    finally:
        await stop_live(server)


async def test_presence_across_devices(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    ada = await make_user()
    bob = await make_user()

    async def status_of() -> dict[str, str]:
        r = await client.get(
            "/api/presence", params={"user_ids": f"{ada.id},{bob.id}"}, headers=ada.headers
        )
        assert r.status_code == 200, r.text
        return {p["user_id"]: p["status"] for p in r.json()["presence"]}

    async with connect(live, ada) as a:
        await frame(a, "hello")
        mine = await frame(a, "presence")  # her own devices hear it too
        assert mine == {"type": "presence", "user_id": str(ada.id), "status": "online"}
        assert await status_of() == {str(ada.id): "online", str(bob.id): "offline"}
        await a.send(json.dumps({"type": "presence_subscribe", "user_ids": [str(bob.id)]}))
        state = await frame(a, "presence_state")
        assert state == {
            "type": "presence_state",
            "presence": [{"user_id": str(bob.id), "status": "offline", "last_seen": None}],
        }
        async with connect(live, bob) as phone, connect(live, bob) as laptop:
            await frame(phone, "hello")
            await frame(laptop, "hello")
            seen = await frame(a, "presence")
            assert seen == {"type": "presence", "user_id": str(bob.id), "status": "online"}
            await phone.send(json.dumps({"type": "presence", "status": "dnd"}))
            assert (await frame(a, "presence"))["status"] == "dnd"
            assert (await status_of())[str(bob.id)] == "dnd"
            await phone.send(json.dumps({"type": "presence", "status": "away"}))
            assert (await frame(a, "presence"))["status"] == "online"  # laptop still online
            await laptop.send(json.dumps({"type": "presence", "status": "away"}))
            assert (await frame(a, "presence"))["status"] == "away"
        assert (await frame(a, "presence"))["status"] == "offline"
        assert (await status_of())[str(bob.id)] == "offline"
    r = await client.get("/api/presence", params={"user_ids": "nope"}, headers=ada.headers)
    assert r.status_code == 422


async def presence_heard(ws: ClientConnection, wait: float = 0.5) -> list[tuple[str, str]]:
    """(user, status) of the presence frames that arrive within `wait` seconds."""
    heard: list[tuple[str, str]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(wait):
            while True:
                data = json.loads(await ws.recv())
                if data["type"] == "presence":
                    heard.append((data["user_id"], data["status"]))
    return heard


async def test_presence_goes_only_to_sockets_watching_the_user(
    live: LiveServer, make_user: UserFactory
) -> None:
    """Presence changes reach the sockets that subscribed to the user (and the user's own),
    not every socket of the server; a new subscription replaces the old one."""
    ada, bob, carol, dan = [await make_user() for _ in range(4)]
    async with connect(live, ada) as a, connect(live, carol) as c, connect(live, dan) as d:
        for ws in (a, c, d):
            await frame(ws, "hello")
            await frame(ws, "presence")  # the user's own, coming online
        for ws in (a, d):
            await ws.send(json.dumps({"type": "presence_subscribe", "user_ids": [str(bob.id)]}))
            await frame(ws, "presence_state")
        async with connect(live, bob) as b:
            await frame(b, "hello")
            assert (await frame(a, "presence"))["user_id"] == str(bob.id)
            await b.send(json.dumps({"type": "presence", "status": "away"}))
            assert (await frame(a, "presence"))["status"] == "away"
            # Carol never asked about Bob; her own change reaches her and nobody else.
            await c.send(json.dumps({"type": "presence", "status": "dnd"}))
            assert await presence_heard(c) == [(str(carol.id), "dnd")]
            # Ada now watches Carol instead of Bob.
            await a.send(json.dumps({"type": "presence_subscribe", "user_ids": [str(carol.id)]}))
            state = await frame(a, "presence_state")
            assert [(p["user_id"], p["status"]) for p in state["presence"]] == [
                (str(carol.id), "dnd")
            ]
            await b.send(json.dumps({"type": "presence", "status": "online"}))
            await c.send(json.dumps({"type": "presence", "status": "online"}))
            assert await presence_heard(a) == [(str(carol.id), "online")]
        # Bob goes offline: Dan, still watching him, hears it; Ada and Carol do not.
        while (await frame(d, "presence"))["status"] != "offline":
            pass
        assert await presence_heard(a) == []
        assert await presence_heard(c) == [(str(carol.id), "online")]


@pytest.mark.parametrize(
    ("user_ids", "code"),
    [
        ("not a list", "invalid_id"),
        (["nope"], "invalid_id"),
        ([{"id": 1}], "invalid_id"),
        ([f"00000000-0000-0000-0000-{i:012d}" for i in range(201)], "too_many_ids"),
    ],
)
async def test_bad_presence_subscription_gets_an_error_frame(
    live: LiveServer, make_user: UserFactory, user_ids: object, code: str
) -> None:
    ada, bob = await make_user(), await make_user()
    async with connect(live, ada) as a:
        await frame(a, "hello")
        await frame(a, "presence")  # her own, coming online
        await a.send(json.dumps({"type": "presence_subscribe", "user_ids": [str(bob.id)]}))
        await frame(a, "presence_state")
        await a.send(json.dumps({"type": "presence_subscribe", "user_ids": user_ids}))
        error = await frame(a, "error")
        assert error["for"] == "presence_subscribe" and error["error"]["code"] == code
        # The socket stays, and so does the subscription it had.
        async with connect(live, bob) as b:
            await frame(b, "hello")
            assert (await frame(a, "presence"))["user_id"] == str(bob.id)


async def make_presence_stale(engine: AsyncEngine, user: MadeUser) -> None:
    """The user's presence rows not seen for ten minutes, as if their heartbeats were lost."""
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE nchat_presence SET last_seen = now() - interval '10 minutes'"
                " WHERE user_id = :u"
            ),
            {"u": user.id},
        )


async def test_a_quick_reconnect_flips_nothing_and_a_dead_node_goes_offline(
    live: LiveServer, make_user: UserFactory, engine: AsyncEngine
) -> None:
    """A closed socket's user stays online through the grace period (a reconnect within it
    is seen by nobody); a user whose rows went stale (a node that died and never said
    goodbye) is announced offline by the sweep."""
    ada, bob, carol = [await make_user() for _ in range(3)]
    live.app.state.presence_keeper.grace_s = 1.5
    async with engine.begin() as conn:  # Carol's socket lives on a node that will die
        await conn.execute(
            sa.text(
                "INSERT INTO nchat_presence (connection_id, user_id, status) "
                "VALUES (gen_random_uuid(), :u, 'online')"
            ),
            {"u": carol.id},
        )
    async with connect(live, ada) as a:
        await frame(a, "hello")
        await frame(a, "presence")
        watch = {"type": "presence_subscribe", "user_ids": [str(bob.id), str(carol.id)]}
        await a.send(json.dumps(watch))
        state = await frame(a, "presence_state")
        assert [p["status"] for p in state["presence"]] == ["offline", "online"]
        async with connect(live, bob) as b:
            await frame(b, "hello")
            assert await presence_heard(a) == [(str(bob.id), "online")]
        async with connect(live, bob) as b:  # back within the grace period
            await frame(b, "hello")
            assert await presence_heard(a, 2.0) == []
        # Gone for good: offline once the grace period is over.
        assert await presence_heard(a, 2.5) == [(str(bob.id), "offline")]

        await make_presence_stale(engine, carol)
        assert await presence_heard(a, 1.0) == [(str(carol.id), "offline")]
    async with engine.connect() as conn:
        left = await conn.scalar(
            sa.text("SELECT count(*) FROM nchat_presence WHERE user_id IN (:b, :c)"),
            {"b": bob.id, "c": carol.id},
        )
    assert left == 0  # swept


async def test_at_here_counts_for_members_with_a_live_socket(
    live: LiveServer, make_user: UserFactory, api: Api
) -> None:
    """@here reaches the members who are around (a socket online or on do-not-disturb);
    @channel reaches every member."""
    ada, bob, carol, dan = [await make_user() for _ in range(4)]
    channel = await api.create_channel(ada, "here", members=(bob, carol, dan))
    async with connect(live, bob) as b, connect(live, dan) as d:
        for ws in (b, d):
            await frame(ws, "hello")
            await frame(ws, "presence")
        await d.send(json.dumps({"type": "presence", "status": "away"}))
        await frame(d, "presence")
        sent = await api.send(ada, channel["id"], "@here standup")
        assert sent["mentions"]["here"] is True
        counts = [(await api.channel(u, channel["id"]))["mention_count"] for u in (bob, carol, dan)]
        assert counts == [1, 0, 0]
        await api.send(ada, channel["id"], "@channel release")
        counts = [(await api.channel(u, channel["id"]))["mention_count"] for u in (bob, carol, dan)]
        assert counts == [2, 1, 1]


async def test_binary_frame_closes_with_1003(live: LiveServer, make_user: UserFactory) -> None:
    """Frames are JSON text: a binary one is refused with a close code, not a server error."""
    ada = await make_user()
    async with connect(live, ada) as ws:
        await frame(ws, "hello")
        await ws.send(b"\x00\x01binary")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            async with asyncio.timeout(TIMEOUT):
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003
    async with connect(live, ada) as ws:  # and the server goes on
        await frame(ws, "hello")
        await ws.send(json.dumps({"type": "ping"}))
        await frame(ws, "pong")


async def test_a_hub_without_sockets_reads_seldom_and_a_new_socket_misses_nothing(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    """With no local sockets a hub only moves its position, at most once per
    IDLE_READ_INTERVAL_S however fast commits come; a socket that connects then gets every
    event after its hello's cursor, exactly as the sync API lists them."""
    ada = await make_user()
    bob = await make_user()
    channel = await api.create_channel(ada, "idle-hub", members=(bob,))
    hub = live.app.state.hub
    reads = 0
    drain = hub._drain

    async def counted() -> bool:
        nonlocal reads
        reads += 1
        return bool(await drain())

    hub._drain = counted
    loop = asyncio.get_running_loop()
    started = loop.time()
    for i in range(30):  # each commit wakes the hub
        await api.send(ada, channel["id"], f"before {i}")
    elapsed = loop.time() - started
    assert reads <= elapsed / hub_module.IDLE_READ_INTERVAL_S + 2, (reads, elapsed)

    async with connect(live, bob) as ws:
        cursor = (await frame(ws, "hello"))["cursor"]
        for i in range(5):
            await api.send(ada, channel["id"], f"after {i}")
        seen = await events_until(ws, lambda e: e["data"].get("text") == "after 4")
    r = await client.get("/api/sync/changes", params={"since": cursor}, headers=bob.headers)
    listed = r.json()["events"]
    assert [e["id"] for e in seen] == [e["id"] for e in listed]
    assert [(e["type"], e["data"].get("text")) for e in seen][-5:] == [
        ("message.created", f"after {i}") for i in range(5)
    ]
