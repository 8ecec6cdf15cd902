"""A phone registered over HTTP gets a DM through FCM (the local peer checks the OAuth token
and the message), and a token FCM reports unregistered removes the device."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.factories import UserFactory
from tests.fixtures.fcm_peer import FcmPeer, running_fcm_peer
from tests.messaging.helpers import Api


@pytest.fixture(scope="module")
def fcm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FcmPeer, Path]]:
    with running_fcm_peer(tmp_path_factory.mktemp("fcm")) as started:
        yield started


@pytest.fixture(scope="module")
def notify_overrides(fcm: tuple[FcmPeer, Path]) -> dict[str, object]:
    peer, account_file = fcm
    return {"fcm_service_account_file": account_file, "fcm_url": peer.url}


async def sent_to(peer: FcmPeer, token: str, within_s: float = 20.0) -> list[object]:
    for _ in range(int(within_s / 0.05)):
        found = [s for s in peer.sent if s.body["message"]["token"] == token]
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing sent to {token}")


async def test_a_dm_reaches_a_phone_through_fcm_and_a_gone_token_is_removed(
    notify_client: httpx.AsyncClient,
    napi: Api,
    people: UserFactory,
    fcm: tuple[FcmPeer, Path],
) -> None:
    peer, _ = fcm
    ana, ben = await people(), await people()
    good, gone = f"fcm:{secrets.token_urlsafe(32)}", f"fcm:{secrets.token_urlsafe(32)}"
    for device, token in (("pixel", good), ("old-phone", gone)):
        r = await notify_client.post(
            "/api/push/register",
            headers=ben.headers,
            json={"platform": "fcm", "device_id": device, "token": token},
        )
        assert r.status_code == 201, r.text
    peer.answer(gone, 404)
    dm = await notify_client.post(
        "/api/channels/direct", headers=ana.headers, json={"user_ids": [str(ben.id)]}
    )
    message = await napi.send(ana, dm.json()["id"], "call me")

    [sent] = await sent_to(peer, good)
    body = sent.body["message"]  # type: ignore[attr-defined]
    assert body["notification"] == {"title": ana.username.title(), "body": "call me"}
    assert body["data"]["message_id"] == message["id"]
    assert body["data"]["channel_id"] == dm.json()["id"]
    await sent_to(peer, gone)
    for _ in range(100):
        devices = (await notify_client.get("/api/push/devices", headers=ben.headers)).json()
        if [d["device_id"] for d in devices["devices"]] == ["pixel"]:
            break
        await asyncio.sleep(0.05)
    assert [d["device_id"] for d in devices["devices"]] == ["pixel"]
