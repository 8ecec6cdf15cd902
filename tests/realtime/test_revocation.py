"""When access ends, it ends everywhere: REST, the WebSocket and GraphQL subscriptions, on
every node, within a second (the authorisation matrix's live-stream cases)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from nchat.auth.tokens import decode_access_token, issue_access_token
from tests.fixtures.factories import MadeUser, UserFactory
from tests.fixtures.processes import nchat_env, run_nchat
from tests.messaging.helpers import Api
from tests.realtime.conftest import LiveServer, start_live, stop_live
from tests.realtime.test_gateway import event_of, frame
from tests.realtime.test_graphql_subscriptions import (
    MESSAGE_CREATED,
    gql_socket,
    message,
    subscribe,
)

# The guard acts on the bus signal at once; this leaves room for a loaded machine.
WITHIN_S = 1.5


async def closed_with(ws: ClientConnection, timeout: float = WITHIN_S) -> tuple[int, str]:
    """The close code and reason the server ends this socket with (frames before it are
    skipped)."""
    async with asyncio.timeout(timeout):
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await ws.recv()
    received = closed.value.rcvd
    assert received is not None, "the server did not send a close frame"
    return received.code, received.reason


async def open_streams(live: LiveServer, user: MadeUser, channel_id: str) -> tuple[Any, Any]:
    """A socket on /api/ws (authenticated by its first frame) and a GraphQL subscription."""
    ws = await websockets.connect(live.ws_url())
    await ws.send(json.dumps({"type": "auth", "token": user.access_token}))
    await frame(ws, "hello")
    gql = await gql_socket(live, user)
    await message(gql, "connection_ack")
    await subscribe(gql, "m", MESSAGE_CREATED, c=channel_id)
    await asyncio.sleep(0.3)  # the subscription registers with the hub
    return ws, gql


async def both_deliver(api: Api, sender: MadeUser, channel_id: str, ws: Any, gql: Any) -> None:
    await api.send(sender, channel_id, "still listening?")
    await event_of(ws, "message.created")
    await message(gql, "next")


async def by_deactivation(
    client: httpx.AsyncClient, admin: MadeUser, bob: MadeUser, _: LiveServer
) -> None:
    r = await client.put(f"/api/users/{bob.id}", headers=admin.headers, json={"is_active": False})
    assert r.status_code == 200, r.text


async def by_sign_out(
    client: httpx.AsyncClient, admin: MadeUser, bob: MadeUser, _: LiveServer
) -> None:
    assert (await client.post("/api/auth/signout", headers=bob.headers)).status_code == 204


async def by_session_revoke(
    client: httpx.AsyncClient, admin: MadeUser, bob: MadeUser, live: LiveServer
) -> None:
    """Bob, signed in on another device, ends the session the streams use."""
    other = await client.post(
        "/api/auth/signin", json={"login": bob.username, "password": bob.password}
    )
    headers = {"Authorization": f"Bearer {other.json()['access_token']}"}
    claims = decode_access_token(bob.access_token, secret=live.app.state.settings.jwt_secret)
    assert claims is not None
    r = await client.delete(f"/api/auth/sessions/{claims.session_id}", headers=headers)
    assert r.status_code == 204


async def by_password_reset(
    client: httpx.AsyncClient, admin: MadeUser, bob: MadeUser, live: LiveServer
) -> None:
    """`nchat user set-password`, a process of its own with no bus of the server's."""
    settings = live.app.state.settings
    env = nchat_env(Path(settings.data_dir), str(settings.database_url))
    done = await asyncio.to_thread(
        run_nchat, ["user", "set-password", bob.username, "--password", "a new passphrase"], env
    )
    assert done.returncode == 0, done.stderr


Way = Callable[[httpx.AsyncClient, MadeUser, MadeUser, LiveServer], Awaitable[None]]


@pytest.mark.parametrize(
    "end_access",
    [by_deactivation, by_sign_out, by_session_revoke, by_password_reset],
    ids=["deactivate", "sign-out", "session-revoke", "password-reset"],
)
async def test_access_ending_closes_rest_socket_and_subscription(
    live: LiveServer,
    client: httpx.AsyncClient,
    make_user: UserFactory,
    api: Api,
    end_access: Way,
) -> None:
    admin = await make_user("admin")
    bob = await make_user()
    channel = await api.create_channel(admin, "watched", members=(bob,))
    ws, gql = await open_streams(live, bob, channel["id"])
    try:
        await both_deliver(api, admin, channel["id"], ws, gql)
        started = time.monotonic()
        await end_access(client, admin, bob, live)
        acted = time.monotonic()
        assert await closed_with(ws) == (4001, "session ended")
        assert await closed_with(gql) == (4401, "session ended")
        assert time.monotonic() - acted < WITHIN_S, time.monotonic() - started
        r = await client.get("/api/users/me", headers=bob.headers)
        assert r.status_code == 401
    finally:
        await ws.close()
        await gql.close()
    # Nor can a new socket be opened with the old token.
    async with websockets.connect(live.ws_url(bob.access_token)) as again:
        assert (await closed_with(again))[0] == 4001


async def test_a_socket_ends_with_its_token_unless_given_a_fresh_one(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    bob = await make_user()
    secret = live.app.state.settings.jwt_secret
    claims = decode_access_token(bob.access_token, secret=secret)
    assert claims is not None

    def token(ttl_s: int) -> str:
        return issue_access_token(
            secret=secret, user_id=bob.id, session_id=claims.session_id, ttl_s=ttl_s
        )

    # Expiry is in whole seconds: an n s token lives more than n - 1 s and at most n s
    # after `issued`. The GraphQL socket and the socket to renew get 3 s, room for a slow
    # machine to open them while their tokens still hold.
    issued = time.time()
    short, renewed = await websockets.connect(live.ws_url(token(2))), None
    try:
        hello = await frame(short, "hello")
        assert 0 <= hello["expires_in"] <= 2
        gql = await gql_socket(live, bob, token(3))
        await message(gql, "connection_ack")
        await subscribe(gql, "e", "subscription { events { id type } }")
        renewed = await websockets.connect(live.ws_url(token(3)))
        await frame(renewed, "hello")
        await renewed.send(json.dumps({"type": "auth", "token": token(60)}))
        assert 50 < (await frame(renewed, "auth_ok"))["expires_in"] <= 60

        def until(deadline: float) -> float:
            return max(0.1, deadline - time.time())

        ended = await closed_with(short, timeout=until(issued + 2 + WITHIN_S))
        assert ended == (4001, "token expired")
        assert await closed_with(gql, timeout=until(issued + 4 + WITHIN_S)) == (
            4401,
            "token expired",
        )
        # Past the renewed socket's first token, it lives on and still delivers.
        await asyncio.sleep(until(issued + 4.1))
        channel = await api.create_channel(bob, "mine")
        await api.send(bob, channel["id"], "after the first token")
        created = await event_of(renewed, "message.created")
        assert created["data"]["text"] == "after the first token"
    finally:
        await short.close()
        if renewed is not None:
            await renewed.close()


async def test_a_fresh_token_must_be_the_same_users(
    live: LiveServer, make_user: UserFactory
) -> None:
    bob, eve = await make_user(), await make_user()
    async with websockets.connect(live.ws_url(bob.access_token)) as ws:
        await frame(ws, "hello")
        for token, code in ((eve.access_token, "token_user_mismatch"), ("junk", "invalid_token")):
            await ws.send(json.dumps({"type": "auth", "token": token}))
            refused = await frame(ws, "error")
            assert refused["for"] == "auth" and refused["error"]["code"] == code
        await ws.send(json.dumps({"type": "ping"}))
        await frame(ws, "pong")


@pytest.mark.parametrize("how", ["leaves", "is-removed"])
async def test_leaving_a_private_channel_ends_its_subscription(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api, how: str
) -> None:
    ada, bob = await make_user(), await make_user()
    private = await api.create_channel(ada, "inner", type_="private", members=(bob,))
    ws, gql = await open_streams(live, bob, private["id"])
    try:
        await both_deliver(api, ada, private["id"], ws, gql)
        if how == "leaves":
            r = await client.post(f"/api/channels/{private['id']}/leave", headers=bob.headers)
        else:
            r = await client.delete(
                f"/api/channels/{private['id']}/members/{bob.id}", headers=ada.headers
            )
        assert r.status_code == 204, r.text
        ended = await message(gql, "next")
        assert ended["payload"]["errors"][0]["extensions"]["code"] == "channel_not_found"
        await api.send(ada, private["id"], "after bob left")
        left = await event_of(ws, "member.left")
        assert left["data"]["user_id"] == str(bob.id)
        with pytest.raises(TimeoutError):
            await frame(ws, timeout=0.5)
        r = await client.get(f"/api/channels/{private['id']}/messages", headers=bob.headers)
        assert r.status_code == 404
    finally:
        await ws.close()
        await gql.close()


@pytest.mark.parametrize("bus", ["postgres", "redis"])
async def test_revocation_reaches_sockets_on_another_node(
    database_url: str,
    tmp_path: Path,
    clean_db: None,
    make_user: UserFactory,
    bus: str,
) -> None:
    extra: dict[str, object] = {}
    if bus == "redis":
        extra = {"redis_url": "redis://127.0.0.1:6379/0", "redis_prefix": f"t-{time.time_ns()}"}
    one = await start_live(database_url, tmp_path / "one", **extra)
    two = await start_live(database_url, tmp_path / "two", **extra)
    try:
        await one.app.state.bus.connected.wait()
        await two.app.state.bus.connected.wait()
        bob = await make_user()
        async with websockets.connect(two.ws_url(bob.access_token)) as ws:
            await frame(ws, "hello")
            transport = httpx.ASGITransport(app=one.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://one") as client:
                r = await client.post("/api/auth/signout", headers=bob.headers)
                assert r.status_code == 204
            assert await closed_with(ws) == (4001, "session ended")
    finally:
        await stop_live(two)
        await stop_live(one)
