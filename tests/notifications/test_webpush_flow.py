"""Web Push end to end: a browser's subscription registered over HTTP, a message sent, the
push received by a local push service that checks the VAPID JWT and decrypts it."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.tables.realtime import presence
from tests.fixtures.factories import MadeUser, UserFactory
from tests.fixtures.push_service import PushService, Subscription
from tests.messaging.helpers import Api
from tests.notifications.conftest import PUSH_DELAY_S


async def register(
    client: httpx.AsyncClient, headers: dict[str, str], sub: Subscription, device: str = "browser"
) -> httpx.Response:
    return await client.post(
        "/api/push/register",
        headers=headers,
        json={"platform": "webpush", "device_id": device, "subscription": sub.json()},
    )


async def test_a_dm_reaches_the_other_persons_browser_decrypted(
    notify_client: httpx.AsyncClient,
    napi: Api,
    people: UserFactory,
    push_service: PushService,
) -> None:
    ana, ben = await people(), await people()
    sub = push_service.subscribe()
    r = await register(notify_client, ben.headers, sub)
    assert r.status_code == 201, r.text
    assert r.json()["platform"] == "webpush"
    key = (await notify_client.get("/api/push/vapid-public-key")).json()["public_key"]

    dm = await notify_client.post(
        "/api/channels/direct", headers=ana.headers, json={"user_ids": [str(ben.id)]}
    )
    assert dm.status_code in (200, 201), dm.text
    channel_id = dm.json()["id"]
    sent_at = time.monotonic()
    message = await napi.send(ana, channel_id, "lunch at **noon**?")

    [push] = await push_service.wait_for(1)
    assert time.monotonic() - sent_at >= PUSH_DELAY_S - 0.1  # waited for the delay
    assert push.subscription_id == sub.id
    assert push.vapid_key == key
    assert push.payload["title"] == ana.username.title()
    assert push.payload["body"] == "lunch at **noon**?"
    assert push.payload["badge"] == 1
    assert push.payload["data"]["channel_id"] == channel_id
    assert push.payload["data"]["message_id"] == message["id"]
    assert push.payload["data"]["url"].endswith(f"#/c/{channel_id}/m/{message['id']}")
    assert push.headers["urgency"] == "high"
    # Nothing for the author, and the one push only once.
    await asyncio.sleep(1.5)
    assert len(push_service.received) == 1
    metrics = (await notify_client.get("/metrics")).text
    assert re.search(
        r'^nchat_notifications_total\{channel="push",outcome="sent"\} [1-9]', metrics, re.M
    )
    assert re.search(r"^nchat_jobs_waiting \d+\.0$", metrics, re.M)
    assert re.search(r"^nchat_jobs_oldest_waiting_seconds [\d.e+-]+$", metrics, re.M)


async def dm_between(client: httpx.AsyncClient, a: MadeUser, b: MadeUser) -> str:
    r = await client.post("/api/channels/direct", headers=a.headers, json={"user_ids": [str(b.id)]})
    assert r.status_code in (200, 201), r.text
    channel_id: str = r.json()["id"]
    return channel_id


async def nothing_arrives(push_service: PushService, wait_s: float = PUSH_DELAY_S + 2.0) -> None:
    await asyncio.sleep(wait_s)
    assert push_service.received == [], push_service.received


async def test_mentions_notify_the_mentioned_and_no_one_else(
    notify_client: httpx.AsyncClient, napi: Api, people: UserFactory, push_service: PushService
) -> None:
    ana, ben, cat = await people(), await people(), await people()
    ben_sub, cat_sub = push_service.subscribe(), push_service.subscribe()
    assert (await register(notify_client, ben.headers, ben_sub)).status_code == 201
    assert (await register(notify_client, cat.headers, cat_sub)).status_code == 201
    channel = await napi.create_channel(ana, "general-mentions", members=(ben, cat))
    await napi.send(ana, channel["id"], "nobody in particular")
    await napi.send(ana, channel["id"], f"@{ben.username} have a look")

    [push] = await push_service.wait_for(1)
    assert push.subscription_id == ben_sub.id
    assert push.payload["title"] == f"{ana.username.title()} in #general-mentions"
    await asyncio.sleep(1.0)
    assert push_service.for_sub(cat_sub) == []


async def test_level_all_and_mute_per_channel(
    notify_client: httpx.AsyncClient, napi: Api, people: UserFactory, push_service: PushService
) -> None:
    ana, ben, cat = await people(), await people(), await people()
    ben_sub, cat_sub = push_service.subscribe(), push_service.subscribe()
    await register(notify_client, ben.headers, ben_sub)
    await register(notify_client, cat.headers, cat_sub)
    channel = await napi.create_channel(ana, "levels", members=(ben, cat))
    r = await notify_client.put(
        f"/api/channels/{channel['id']}/notification-preferences",
        headers=ben.headers,
        json={"level": "all"},
    )
    assert r.json() == {"channel_id": channel["id"], "level": "all", "muted": False}
    r = await notify_client.put(
        f"/api/channels/{channel['id']}/notification-preferences",
        headers=cat.headers,
        json={"muted": True},
    )
    assert r.json()["muted"] is True
    await napi.send(ana, channel["id"], f"plain words, and @{cat.username} too")

    [push] = await push_service.wait_for(1)
    assert push.subscription_id == ben_sub.id
    await asyncio.sleep(1.0)
    assert push_service.for_sub(cat_sub) == []  # muted, even when mentioned


async def test_read_deleted_active_or_quiet_hours_send_nothing(
    notify_client: httpx.AsyncClient,
    napi: Api,
    people: UserFactory,
    push_service: PushService,
    notify_engine: AsyncEngine,
) -> None:
    ana = await people()
    readers = [await people() for _ in range(4)]
    subs = [push_service.subscribe() for _ in readers]
    for person, sub in zip(readers, subs, strict=True):
        await register(notify_client, person.headers, sub)
    dms = [await dm_between(notify_client, ana, person) for person in readers]
    read_one, deleted_one, active_one, quiet_one = readers
    # Quiet hours around now, in the person's zone.
    now = datetime.now(ZoneInfo("Asia/Tokyo"))
    r = await notify_client.put(
        "/api/users/me/notification-preferences",
        headers=quiet_one.headers,
        json={
            "dnd": {
                "enabled": True,
                "start": (now - timedelta(hours=1)).strftime("%H:%M"),
                "end": (now + timedelta(hours=1)).strftime("%H:%M"),
                "timezone": "Asia/Tokyo",
            }
        },
    )
    assert r.status_code == 200, r.text
    # A live socket writes this row and keeps it fresh.
    async with notify_engine.begin() as conn:
        await conn.execute(
            sa.insert(presence).values(
                connection_id=uuid.uuid4(), user_id=active_one.id, status="online"
            )
        )
    sent = [await napi.send(ana, channel_id, "are you there?") for channel_id in dms]
    r = await notify_client.post(
        f"/api/channels/{dms[0]}/read",
        headers=read_one.headers,
        json={"message_id": sent[0]["id"]},
    )
    assert r.status_code == 200, r.text
    r = await notify_client.delete(f"/api/messages/{sent[1]['id']}", headers=ana.headers)
    assert r.status_code in (200, 204), r.text

    await nothing_arrives(push_service)
    async with notify_engine.connect() as conn:
        found = await conn.execute(
            sa.text(
                "SELECT user_id, push_state FROM nchat_notifications WHERE user_id = ANY(:ids)"
            ),
            {"ids": [person.id for person in readers]},
        )
        states = dict(found.all())
    # A message deleted before the notifier saw it tells nobody at all.
    assert states.pop(deleted_one.id, "deleted") == "deleted"
    assert states == {read_one.id: "read", active_one.id: "active", quiet_one.id: "dnd"}


async def test_an_edit_within_the_delay_is_what_arrives_and_privacy_hides_text(
    notify_client: httpx.AsyncClient, napi: Api, people: UserFactory, push_service: PushService
) -> None:
    ana, ben, cat = await people(), await people(), await people()
    ben_sub, cat_sub = push_service.subscribe(), push_service.subscribe()
    await register(notify_client, ben.headers, ben_sub)
    await register(notify_client, cat.headers, cat_sub)
    r = await notify_client.put(
        "/api/users/me/notification-preferences",
        headers=cat.headers,
        json={"push_content": "sender"},
    )
    assert r.json()["push_content"] == "sender"
    to_ben = await napi.send(ana, await dm_between(notify_client, ana, ben), "tpyo")
    await napi.send(ana, await dm_between(notify_client, ana, cat), "the secret plan")
    r = await notify_client.put(
        f"/api/messages/{to_ben['id']}", headers=ana.headers, json={"text": "typo fixed"}
    )
    assert r.status_code == 200, r.text

    await push_service.wait_for(2)
    [to_ben_push] = push_service.for_sub(ben_sub)
    [to_cat_push] = push_service.for_sub(cat_sub)
    assert to_ben_push.payload["body"] == "typo fixed"
    assert to_cat_push.payload["body"] == "New message"
    assert "secret" not in str(to_cat_push.payload)


async def test_a_gone_subscription_is_removed_and_a_busy_service_is_tried_again(
    notify_client: httpx.AsyncClient, napi: Api, people: UserFactory, push_service: PushService
) -> None:
    ana, ben = await people(), await people()
    gone, busy = push_service.subscribe(), push_service.subscribe()
    await register(notify_client, ben.headers, gone, device="old-laptop")
    await register(notify_client, ben.headers, busy, device="phone-browser")
    push_service.answer(gone, 410)
    push_service.answer(busy, 429, times=1)
    await napi.send(ana, await dm_between(notify_client, ana, ben), "ping")

    [push] = await push_service.wait_for(1, within_s=30)
    assert push.subscription_id == busy.id
    devices = (await notify_client.get("/api/push/devices", headers=ben.headers)).json()
    assert [d["device_id"] for d in devices["devices"]] == ["phone-browser"]
    await asyncio.sleep(1.0)
    assert len(push_service.received) == 1  # the retry reached only what had not been reached


async def test_followed_threads_group_dms_and_the_nothing_level_and_dnd_status(
    notify_client: httpx.AsyncClient,
    napi: Api,
    people: UserFactory,
    push_service: PushService,
    notify_engine: AsyncEngine,
) -> None:
    ana, ben, cat, dan = await people(), await people(), await people(), await people()
    subs = {p.id: push_service.subscribe() for p in (ben, cat, dan)}
    for person in (ben, cat, dan):
        await register(notify_client, person.headers, subs[person.id])
    channel = await napi.create_channel(ana, "threads-and-groups", members=(ben, cat, dan))
    # Ben follows the thread by replying in it; Cat says nothing at all; Dan is in DND.
    root = await napi.send(ana, channel["id"], "a question for the room")
    await napi.send(ben, channel["id"], "my answer", thread_id=root["id"])
    r = await notify_client.put(
        "/api/users/me/notification-preferences", headers=cat.headers, json={"level": "nothing"}
    )
    assert r.json()["level"] == "nothing"
    async with notify_engine.begin() as conn:
        await conn.execute(
            sa.insert(presence).values(connection_id=uuid.uuid4(), user_id=dan.id, status="dnd")
        )
    await napi.send(ana, channel["id"], "a follow-up", thread_id=root["id"])
    group = await notify_client.post(
        "/api/channels/direct",
        headers=ana.headers,
        json={"user_ids": [str(ben.id), str(cat.id), str(dan.id)]},
    )
    assert group.status_code in (200, 201), group.text
    await napi.send(ana, group.json()["id"], "group hello")

    await push_service.wait_for(2)
    await asyncio.sleep(PUSH_DELAY_S + 1.0)
    to_ben = sorted(p.payload["body"] for p in push_service.for_sub(subs[ben.id]))
    assert to_ben == ["a follow-up", "group hello"]
    thread_push = next(
        p for p in push_service.for_sub(subs[ben.id]) if p.payload["body"] == "a follow-up"
    )
    assert thread_push.payload["data"]["thread_id"] == root["id"]
    assert thread_push.payload["title"].endswith("(thread)")
    assert push_service.for_sub(subs[cat.id]) == []  # level nothing, even for a group DM
    assert push_service.for_sub(subs[dan.id]) == []  # do not disturb
