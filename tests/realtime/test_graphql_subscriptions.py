"""GraphQL subscriptions over graphql-transport-ws, on a real socket."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api
from tests.realtime.conftest import LiveServer

TIMEOUT = 10.0


async def gql_socket(live: LiveServer, user: MadeUser | None, token: str | None = None) -> Any:
    ws = await websockets.connect(
        f"ws://127.0.0.1:{live.port}/graphql",
        subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
    )
    payload = {"token": token if token is not None else (user.access_token if user else "")}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return ws


async def message(ws: ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT):
        while True:
            data: dict[str, Any] = json.loads(await ws.recv())
            if data["type"] == kind:
                return data


async def subscribe(ws: ClientConnection, op_id: str, query: str, **variables: Any) -> None:
    await ws.send(
        json.dumps(
            {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
    )


MESSAGE_CREATED = """subscription($c: ID!) {
  messageCreated(channelId: $c) { id text user { id name } }
}"""


async def test_message_created_and_events(
    live: LiveServer, make_user: UserFactory, api: Api
) -> None:
    ada = await make_user()
    bob = await make_user()
    channel = await api.create_channel(ada, "subs", members=(bob,))
    other = await api.create_channel(ada, "elsewhere", members=(bob,))
    ws = await gql_socket(live, bob)
    try:
        await message(ws, "connection_ack")
        await subscribe(ws, "m", MESSAGE_CREATED, c=channel["id"])
        await subscribe(ws, "e", "subscription { events { id type channelId data } }")
        await asyncio.sleep(0.3)  # let both subscriptions register with the hub
        await api.send(ada, other["id"], "not this channel")
        sent = await api.send(ada, channel["id"], "hello subscribers")
        frames: dict[str, list[Any]] = {"m": [], "e": []}

        def created(items: list[Any]) -> list[Any]:
            return [e for e in items if e["type"] == "message.created"]

        async with asyncio.timeout(TIMEOUT):
            while not frames["m"] or len(created(frames["e"])) < 2:
                frame = await message(ws, "next")
                data = frame["payload"]["data"]
                frames[frame["id"]].append(
                    data["messageCreated" if frame["id"] == "m" else "events"]
                )
        assert frames["m"] == [
            {
                "id": sent["id"],
                "text": "hello subscribers",
                "user": {"id": str(ada.id), "name": ada.username.title()},
            }
        ]
        texts = [e["data"]["text"] for e in created(frames["e"])]
        assert texts == ["not this channel", "hello subscribers"]
    finally:
        await ws.close()


async def test_visibility_and_auth(live: LiveServer, make_user: UserFactory, api: Api) -> None:
    ada = await make_user()
    eve = await make_user()
    secret = await api.create_channel(ada, "secret", type_="private")
    ws = await gql_socket(live, eve)
    try:
        await message(ws, "connection_ack")
        await subscribe(ws, "x", MESSAGE_CREATED, c=secret["id"])
        error = await message(ws, "next")
        assert error["payload"]["errors"][0]["extensions"]["code"] == "channel_not_found"
    finally:
        await ws.close()
    bad = await gql_socket(live, None, token="not-a-token")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await message(bad, "connection_ack")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
