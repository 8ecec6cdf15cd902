"""Registering devices and setting preferences over HTTP: what is refused (and then nothing
is stored), what replaces what, and that signing out unregisters a session's devices. The
shared app: private endpoints are refused there, as by default."""

from __future__ import annotations

import base64
import os
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fixtures.factories import UserFactory
from tests.graphql.test_graphql import gql
from tests.messaging.helpers import Api


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def keys() -> dict[str, str]:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    return {"p256dh": b64(point), "auth": b64(os.urandom(16))}


def webpush(endpoint: str, device: str = "laptop", **key_overrides: str) -> dict[str, Any]:
    return {
        "platform": "webpush",
        "device_id": device,
        "subscription": {"endpoint": endpoint, "keys": {**keys(), **key_overrides}},
    }


PUBLIC = "https://203.0.114.7/push/abc"  # not a private, loopback or reserved address


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (webpush("http://203.0.114.7/push/abc"), "invalid_endpoint"),
        (webpush("https://127.0.0.1/push"), "invalid_endpoint"),
        (webpush("https://10.1.2.3/push"), "invalid_endpoint"),
        (webpush("https://192.168.0.10/push"), "invalid_endpoint"),
        (webpush("https://169.254.169.254/latest/meta-data"), "invalid_endpoint"),
        (webpush("https://[::1]/push"), "invalid_endpoint"),
        (webpush("https://[::ffff:127.0.0.1]/push"), "invalid_endpoint"),
        (webpush("https://localhost/push"), "invalid_endpoint"),
        (webpush("https://user:pw@203.0.114.7/push"), "invalid_endpoint"),
        (webpush("ftp://203.0.114.7/push"), "invalid_endpoint"),
        (webpush(PUBLIC, p256dh=b64(b"\x04" + b"x" * 10)), "invalid_subscription"),
        (webpush(PUBLIC, p256dh=b64(b"\x02" + b"x" * 64)), "invalid_subscription"),
        (webpush(PUBLIC, auth=b64(b"short")), "invalid_subscription"),
        ({"platform": "webpush", "device_id": "x", "token": "abc"}, "validation_error"),
        ({"platform": "apns", "device_id": "x"}, "validation_error"),
        (
            {"platform": "fcm", "device_id": "x", "subscription": webpush(PUBLIC)["subscription"]},
            "validation_error",
        ),
        ({"platform": "carrier-pigeon", "device_id": "x", "token": "abc"}, "validation_error"),
        ({"platform": "apns", "device_id": "has space", "token": "abc"}, "validation_error"),
        ({"platform": "apns", "device_id": "x" * 201, "token": "abc"}, "validation_error"),
    ],
)
async def test_bad_devices_are_422_and_store_nothing(
    client: httpx.AsyncClient, make_user: UserFactory, body: dict[str, Any], code: str
) -> None:
    ana = await make_user()
    r = await client.post("/api/push/register", headers=ana.headers, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    listed = await client.get("/api/push/devices", headers=ana.headers)
    assert listed.json() == {"devices": []}


async def test_register_replaces_by_device_id_and_unregister_removes(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    ana, ben = await make_user(), await make_user()
    first = await client.post("/api/push/register", headers=ana.headers, json=webpush(PUBLIC))
    assert first.status_code == 201, first.text
    again = await client.post(
        "/api/push/register", headers=ana.headers, json=webpush(PUBLIC + "/renewed")
    )
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    phone = {"platform": "apns", "device_id": "phone", "token": "ab" * 32}
    assert (
        await client.post("/api/push/register", headers=ana.headers, json=phone)
    ).status_code == 201
    listed = (await client.get("/api/push/devices", headers=ana.headers)).json()["devices"]
    assert [(d["device_id"], d["endpoint"]) for d in listed] == [
        ("laptop", PUBLIC + "/renewed"),
        ("phone", None),
    ]
    # Someone else's device by the same name is not theirs to remove.
    r = await client.request(
        "DELETE", "/api/push/unregister", headers=ben.headers, json={"device_id": "laptop"}
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "device_not_found"
    r = await client.request(
        "DELETE", "/api/push/unregister", headers=ana.headers, json={"device_id": "laptop"}
    )
    assert r.status_code == 204
    r = await client.delete("/api/push/unregister?device_id=phone", headers=ana.headers)
    assert r.status_code == 204
    assert (await client.get("/api/push/devices", headers=ana.headers)).json() == {"devices": []}


async def test_at_most_twenty_devices(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    ana = await make_user()
    for n in range(20):
        body = {"platform": "fcm", "device_id": f"d{n}", "token": f"token-{n}"}
        assert (
            await client.post("/api/push/register", headers=ana.headers, json=body)
        ).status_code == 201
    body = {"platform": "fcm", "device_id": "d20", "token": "token-20"}
    r = await client.post("/api/push/register", headers=ana.headers, json=body)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "too_many_devices"
    # Replacing one that exists is still fine.
    body = {"platform": "fcm", "device_id": "d3", "token": "token-new"}
    assert (
        await client.post("/api/push/register", headers=ana.headers, json=body)
    ).status_code == 201


async def test_signing_out_unregisters_that_sessions_devices(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    ana = await make_user()
    r = await client.post("/api/push/register", headers=ana.headers, json=webpush(PUBLIC))
    assert r.status_code == 201
    r = await client.post(
        "/api/auth/signin", json={"login": ana.username, "password": ana.password}
    )
    assert r.status_code == 200, r.text
    other = {"Authorization": f"Bearer {r.json()['access_token']}"}
    body = {"platform": "apns", "device_id": "phone", "token": "cd" * 32}
    assert (await client.post("/api/push/register", headers=other, json=body)).status_code == 201

    r = await client.post("/api/auth/signout", headers=ana.headers)
    assert r.status_code == 204
    listed = (await client.get("/api/push/devices", headers=other)).json()["devices"]
    assert [d["device_id"] for d in listed] == ["phone"]


async def test_the_vapid_key_is_a_p256_point(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/push/vapid-public-key")
    raw = base64.urlsafe_b64decode(r.json()["public_key"] + "==")
    assert len(raw) == 65 and raw[0] == 4
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)  # a point on the curve
    assert (await client.get("/api/push/vapid-public-key")).json() == r.json()


async def test_preferences_default_update_and_refuse(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    ana = await make_user()
    path = "/api/users/me/notification-preferences"
    r = await client.get(path, headers=ana.headers)
    assert r.json() == {
        "level": "mentions",
        "push_content": "full",
        "email": True,
        "dnd": {"enabled": False, "start": None, "end": None, "timezone": "UTC"},
    }
    r = await client.put(
        path,
        headers=ana.headers,
        json={
            "level": "all",
            "dnd": {"enabled": True, "start": "22:00", "end": "07:00", "timezone": "Europe/Paris"},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["level"] == "all"
    assert r.json()["email"] is True
    assert r.json()["dnd"] == {
        "enabled": True,
        "start": "22:00:00",
        "end": "07:00:00",
        "timezone": "Europe/Paris",
    }
    for bad in (
        {"level": "loud"},
        {"push_content": "everything"},
        {"dnd": {"enabled": True}},
        {"dnd": {"enabled": True, "start": "22:00", "end": "07:00", "timezone": "Mars/Base"}},
        {"dnd": {"enabled": True, "start": "25:00", "end": "07:00"}},
        {"email": "sometimes"},
        {"unknown": 1},
    ):
        r = await client.put(path, headers=ana.headers, json=bad)
        assert r.status_code == 422, bad
    assert (await client.get(path, headers=ana.headers)).json()["level"] == "all"


async def test_channel_preferences_only_for_members(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ana, ben = await make_user(), await make_user()
    public = await api.create_channel(ana, "open-prefs")
    private = await api.create_channel(ana, "closed-prefs", type_="private")
    for channel in (public, private):
        path = f"/api/channels/{channel['id']}/notification-preferences"
        r = await client.put(path, headers=ben.headers, json={"muted": True})
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "channel_not_found"
    path = f"/api/channels/{public['id']}/notification-preferences"
    assert (await client.get(path, headers=ana.headers)).json() == {
        "channel_id": public["id"],
        "level": "default",
        "muted": False,
    }
    r = await client.put(path, headers=ana.headers, json={"level": "nothing"})
    assert r.json() == {"channel_id": public["id"], "level": "nothing", "muted": False}
    r = await client.put(path, headers=ana.headers, json={"level": "sometimes"})
    assert r.status_code == 422


async def test_preferences_through_graphql_are_the_same_as_rest(
    client: httpx.AsyncClient, make_user: UserFactory, api: Api
) -> None:
    ana, ben = await make_user(), await make_user()
    channel = await api.create_channel(ana, "gql-prefs")
    found = await gql(
        client,
        ana,
        """mutation {
          updateNotificationPreferences(level: "all", pushContent: "none",
            dnd: {enabled: true, start: "23:00", end: "06:30", timezone: "Asia/Tokyo"}) {
            level pushContent email dnd { enabled start end timezone } } }""",
    )
    assert found["data"]["updateNotificationPreferences"] == {
        "level": "all",
        "pushContent": "none",
        "email": True,
        "dnd": {"enabled": True, "start": "23:00:00", "end": "06:30:00", "timezone": "Asia/Tokyo"},
    }
    rest = (await client.get("/api/users/me/notification-preferences", headers=ana.headers)).json()
    assert rest["push_content"] == "none" and rest["dnd"]["timezone"] == "Asia/Tokyo"

    bad = await gql(
        client, ana, 'mutation { updateNotificationPreferences(level: "loud") { level } }'
    )
    assert bad["errors"][0]["extensions"]["code"] == "validation_error"
    muted = await gql(
        client,
        ana,
        "mutation($id: ID!) { updateChannelNotificationPreferences(channelId: $id, muted: true)"
        " { channelId level muted } }",
        id=channel["id"],
    )
    assert muted["data"]["updateChannelNotificationPreferences"] == {
        "channelId": channel["id"],
        "level": "default",
        "muted": True,
    }
    hidden = await gql(
        client,
        ben,
        "query($id: ID!) { channelNotificationPreferences(channelId: $id) { muted } }",
        id=channel["id"],
    )
    assert hidden["errors"][0]["extensions"]["code"] == "channel_not_found"
    mine = await gql(client, ana, "{ notificationPreferences { level } }")
    assert mine["data"]["notificationPreferences"]["level"] == "all"
