"""Notification settings are events to their owner only, over real sockets: a change made on
one device reaches the person's other sockets with the settings as GET answers them, nobody
else hears of it (another member of the same channel hears only their own), a save that
changes nothing sends nothing, and a socket that was away replays the change from its
cursor, as /api/sync/changes does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from nchat.notifications.unsubscribe import make_token
from tests.fixtures.factories import MadeUser, UserFactory
from tests.messaging.helpers import Api
from tests.realtime.conftest import LiveServer, start_live, stop_live
from tests.realtime.test_gateway import connect, event_of, events_until, frame

MINE = "/api/users/me/notification-preferences"
CHANNEL = "channel_notification_preferences.updated"
GLOBAL = "notification_preferences.updated"


@pytest.fixture
async def live(database_url: str, tmp_path: Path, clean_db: None) -> AsyncIterator[LiveServer]:
    server = await start_live(database_url, tmp_path)
    yield server
    await stop_live(server)


def prefs(channel_id: str) -> str:
    return f"/api/channels/{channel_id}/notification-preferences"


async def put(client: httpx.AsyncClient, user: MadeUser, url: str, body: dict[str, Any]) -> Any:
    r = await client.put(url, headers=user.headers, json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_mute_reaches_the_persons_other_socket_and_no_one_else(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ana, ben = await make_user(), await make_user()
    room = await api.create_channel(ana, "quiet-room", members=(ben,))
    async with (
        connect(live, ana) as phone,
        connect(live, ana) as laptop,
        connect(live, ben) as other,
    ):
        for ws in (phone, laptop, other):
            await frame(ws, "hello")
        saved = await put(client, ana, prefs(room["id"]), {"muted": True})
        assert saved == {"channel_id": room["id"], "level": "default", "muted": True}
        # Both of Ana's sockets: the one that saved hears it too (its client ignores a repeat).
        for ws in (phone, laptop):
            event = await event_of(ws, CHANNEL)
            assert event["channel_id"] == room["id"]
            assert event["data"] == saved

        # The same again changes nothing and says nothing; a level is a change.
        await put(client, ana, prefs(room["id"]), {"muted": True})
        levelled = await put(client, ana, prefs(room["id"]), {"level": "all"})
        event = await event_of(laptop, CHANNEL)
        assert event["data"] == levelled == {**saved, "level": "all"}

        # Ben shares the channel but not Ana's settings: the first such event he hears is
        # his own, made after hers.
        own = await put(client, ben, prefs(room["id"]), {"level": "nothing"})
        event = await event_of(other, CHANNEL)
        assert event["data"] == own
        assert own == {"channel_id": room["id"], "level": "nothing", "muted": False}
        # ...and Ana's sockets never hear his.
        await put(client, ana, prefs(room["id"]), {"muted": False})
        assert (await event_of(laptop, CHANNEL))["data"] == {**levelled, "muted": False}


async def test_preferences_and_unsubscribe_are_heard_and_a_repeat_is_not(
    live: LiveServer, app: FastAPI, client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    ana, ben = await make_user(), await make_user()
    async with connect(live, ana) as laptop, connect(live, ben) as other:
        await frame(laptop, "hello")
        await frame(other, "hello")
        saved = await put(client, ana, MINE, {"level": "all", "push_content": "sender"})
        event = await event_of(laptop, GLOBAL)
        assert event["channel_id"] is None
        assert event["data"] == saved
        assert saved["level"] == "all" and saved["email"] is True

        await put(client, ana, MINE, {"level": "all"})  # no change
        # An unsubscribe link turns email off: the open Settings of Ana's hear it.
        token = make_token(app.state.settings, str(ana.id))
        r = await client.post("/api/notifications/unsubscribe", params={"token": token})
        assert r.status_code == 200, r.text
        event = await event_of(laptop, GLOBAL)
        assert event["data"] == {**saved, "email": False}
        assert (await client.get(MINE, headers=ana.headers)).json() == event["data"]
        # Already off: nothing more. The next event is the next change.
        r = await client.post("/api/notifications/unsubscribe", params={"token": token})
        assert r.status_code == 200, r.text
        last = await put(client, ana, MINE, {"push_content": "none"})
        assert (await event_of(laptop, GLOBAL))["data"] == last
        # Ben heard none of Ana's: the first he hears is his own.
        his = await put(client, ben, MINE, {"email": False})
        assert (await event_of(other, GLOBAL))["data"] == his
        # ...and Ana's socket none of Ben's: after his, hers is the next it hears.
        back = await put(client, ana, MINE, {"email": True})
        assert (await event_of(laptop, GLOBAL))["data"] == back


async def test_a_socket_that_was_away_replays_the_change_from_its_cursor(
    live: LiveServer, client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ana, ben = await make_user(), await make_user()
    room = await api.create_channel(ana, "replayed", members=(ben,))
    async with connect(live, ana) as laptop, connect(live, ben) as other:
        await frame(laptop, "hello")
        await frame(other, "hello")
        await api.send(ben, room["id"], "before")
        mark = await event_of(laptop, "message.created")
        ben_mark = await event_of(other, "message.created")
    # Offline, Ana mutes the channel on her phone and changes her own level.
    muted = await put(client, ana, prefs(room["id"]), {"muted": True})
    mine = await put(client, ana, MINE, {"level": "nothing"})
    await api.send(ben, room["id"], "after")

    async with connect(live, ana, since=mark["id"]) as laptop:
        assert (await frame(laptop, "hello"))["cursor"] == mark["id"]
        seen = await events_until(laptop, lambda e: e["type"] == "message.created")
    assert [(e["type"], e["data"].get("text")) for e in seen] == [
        (CHANNEL, None),
        (GLOBAL, None),
        ("message.created", "after"),
    ]
    assert seen[0]["data"] == muted and seen[1]["data"] == mine

    # Ben resuming from the same point replays the message only.
    async with connect(live, ben, since=ben_mark["id"]) as other:
        await frame(other, "hello")
        seen = await events_until(other, lambda e: e["type"] == "message.created")
    assert [(e["type"], e["data"].get("text")) for e in seen] == [("message.created", "after")]

    # /api/sync/changes reads the same log with the same rule.
    page = (
        await client.get("/api/sync/changes", headers=ana.headers, params={"since": mark["id"]})
    ).json()
    assert [e["type"] for e in page["events"]] == [CHANNEL, GLOBAL, "message.created"]
    page = (
        await client.get("/api/sync/changes", headers=ben.headers, params={"since": ben_mark["id"]})
    ).json()
    assert [e["type"] for e in page["events"]] == ["message.created"]
