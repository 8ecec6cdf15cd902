"""The FCM sender against a local OAuth 2 token endpoint and FCM v1 API that verify the
service account's assertion, the bearer token and the message like Google's do
(tests/fixtures/fcm_peer.py)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from nchat.config import Settings
from nchat.notifications import fcm
from nchat.notifications.fcm import FcmSender
from nchat.notifications.outcome import Device, Outcome, Platform, Push, Result
from tests.fixtures.clock import ManualClock
from tests.fixtures.fcm_peer import FcmPeer, running_fcm_peer

PUSH = Push(
    title="Ada in #general",
    body="the build is green",
    data={"channel_id": "c-1", "message_id": "m-1"},
    badge=2,
    ttl_s=3600,
)


def device(token: str | None = None) -> Device:
    return Device(
        id="d-1",
        user_id="u-1",
        platform=Platform.FCM,
        device_id="pixel",
        token=f"fcm:{secrets.token_urlsafe(48)}" if token is None else token,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def running(tmp_path: Path, clock: ManualClock) -> Iterator[tuple[FcmPeer, Path]]:
    with running_fcm_peer(tmp_path, clock=clock) as started:
        yield started


@pytest.fixture
def peer(running: tuple[FcmPeer, Path]) -> FcmPeer:
    return running[0]


def fcm_settings(account_file: Path, url: str) -> Settings:
    return Settings(fcm_service_account_file=account_file, fcm_url=url)


@pytest.fixture
async def sender(running: tuple[FcmPeer, Path], clock: ManualClock) -> AsyncIterator[FcmSender]:
    peer, account_file = running
    made = FcmSender(fcm_settings(account_file, peer.url), clock=clock)
    yield made
    await made.aclose()


async def test_a_notification_is_sent_with_an_access_token_from_the_service_account(
    sender: FcmSender, peer: FcmPeer, clock: ManualClock
) -> None:
    phone = device()
    result = await sender.send(phone, PUSH)

    assert result.outcome is Outcome.SENT, result
    assert result.detail.startswith("projects/nchat-test/messages/")
    [claims] = peer.assertions
    assert claims == {
        "iss": "firebase-adminsdk@nchat-test.iam.gserviceaccount.com",
        "scope": "https://www.googleapis.com/auth/firebase.messaging",
        "aud": peer.token_uri,
        "iat": int(clock()),
        "exp": int(clock()) + 3600,
    }
    [sent] = peer.sent
    assert sent.status == 200
    assert sent.bearer in peer.issued
    # What arrived is exactly what was meant.
    assert sent.body == {
        "message": {
            "token": phone.token,
            "notification": {"title": PUSH.title, "body": PUSH.body},
            "data": {"channel_id": "c-1", "message_id": "m-1"},
            "android": {
                "priority": "high",
                "ttl": "3600s",
                "notification": {"notification_count": 2},
            },
            "apns": {"payload": {"aps": {"badge": 2}}},
        }
    }


async def test_one_access_token_serves_every_send_until_shortly_before_it_expires(
    sender: FcmSender, peer: FcmPeer, clock: ManualClock
) -> None:
    # Concurrent first sends wait for one token instead of each fetching their own.
    results = await asyncio.gather(*(sender.send(device(), PUSH) for _ in range(6)))
    assert {r.outcome for r in results} == {Outcome.SENT}
    clock.advance(peer.token_lifetime_s - 301)
    assert (await sender.send(device(), PUSH)).outcome is Outcome.SENT
    assert len(peer.assertions) == 1
    assert len({s.bearer for s in peer.sent}) == 1

    clock.advance(2)
    assert (await sender.send(device(), PUSH)).outcome is Outcome.SENT
    assert len(peer.assertions) == 2
    assert peer.sent[-1].bearer != peer.sent[0].bearer


async def test_a_revoked_access_token_is_replaced_once_and_the_message_resent(
    sender: FcmSender, peer: FcmPeer
) -> None:
    assert (await sender.send(device(), PUSH)).outcome is Outcome.SENT
    peer.revoke_access_tokens()
    assert (await sender.send(device(), PUSH)).outcome is Outcome.SENT
    assert [s.status for s in peer.sent] == [200, 401, 200]
    assert len(peer.assertions) == 2


async def test_a_401_that_persists_fails_after_one_new_token(
    sender: FcmSender, peer: FcmPeer
) -> None:
    phone = device()
    peer.answer(phone.token or "", 401)
    result = await sender.send(phone, PUSH)
    assert result == Result(
        Outcome.FAILED, "401 UNAUTHENTICATED: Request had invalid authentication credentials."
    )
    assert [s.status for s in peer.sent] == [401, 401]
    assert len(peer.assertions) == 2


async def test_an_unregistered_token_is_gone(sender: FcmSender, peer: FcmPeer) -> None:
    phone = device()
    peer.answer(phone.token or "", 404)
    result = await sender.send(phone, PUSH)
    assert result == Result(Outcome.GONE, "404 UNREGISTERED: Requested entity was not found.")


async def test_a_token_fcm_calls_invalid_is_gone_but_other_bad_arguments_fail(
    sender: FcmSender, peer: FcmPeer
) -> None:
    # The peer's own check of the token's form.
    result = await sender.send(device("too-short"), PUSH)
    assert result.outcome is Outcome.GONE
    assert "not a valid FCM registration token" in result.detail
    # An INVALID_ARGUMENT about something else is ours to fix, not the device's.
    phone = device()
    peer.answer(phone.token or "", 400)
    result = await sender.send(phone, PUSH)
    assert result == Result(
        Outcome.FAILED, "400 INVALID_ARGUMENT: Request contains an invalid argument."
    )


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [(429, "30", 30.0), (503, "7", 7.0), (503, None, None), (500, None, None)],
)
async def test_quota_and_outages_are_retried_when_fcm_says(
    sender: FcmSender, peer: FcmPeer, status: int, retry_after: str | None, expected: float | None
) -> None:
    phone = device()
    peer.answer(phone.token or "", status, retry_after=retry_after, times=1)
    result = await sender.send(phone, PUSH)
    assert (result.outcome, result.retry_after_s) == (Outcome.RETRY, expected)
    assert result.detail.startswith(f"{status} ")
    # Answered once: the next attempt goes through.
    assert (await sender.send(phone, PUSH)).outcome is Outcome.SENT


async def test_other_refusals_fail(sender: FcmSender, peer: FcmPeer) -> None:
    phone = device()
    peer.answer(phone.token or "", 403)
    assert await sender.send(phone, PUSH) == Result(
        Outcome.FAILED, "403 SENDER_ID_MISMATCH: SenderId mismatch"
    )


async def test_a_collapse_key_and_the_ttl_reach_android(sender: FcmSender, peer: FcmPeer) -> None:
    push = Push(title="t", body="b", collapse_key="message:m-1", ttl_s=90)
    assert (await sender.send(device(), push)).outcome is Outcome.SENT
    android = peer.sent[0].body["message"]["android"]
    assert android["collapse_key"] == "message:m-1"
    assert android["notification"]["tag"] == "message:m-1"
    assert android["ttl"] == "90s"


async def test_data_keys_fcm_reserves_are_left_out(sender: FcmSender, peer: FcmPeer) -> None:
    data = {"from": "x", "google.c.a": "y", "gcm_id": "z", "channel_id": "c-1"}
    push = Push(title="t", body="b", data=data)
    assert (await sender.send(device(), push)).outcome is Outcome.SENT
    assert peer.sent[0].body["message"]["data"] == {"channel_id": "c-1"}


async def test_the_peer_refuses_data_values_that_are_not_strings(
    sender: FcmSender, peer: FcmPeer
) -> None:
    # FCM's data map takes strings only; the peer holds senders to it.
    await sender.send(device(), PUSH)
    body = fcm.message(device().token or "", PUSH)
    body["message"]["data"]["badge"] = 2
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{peer.url}/v1/projects/nchat-test/messages:send",
            json=body,
            headers={"authorization": f"Bearer {peer.sent[0].bearer}"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "message.data[2].value" in response.json()["error"]["message"]


async def test_an_assertion_the_token_endpoint_cannot_verify_fails_without_a_send(
    running: tuple[FcmPeer, Path], clock: ManualClock
) -> None:
    peer, account_file = running
    info = json.loads(account_file.read_text())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = other.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    account_file.write_text(json.dumps(info))
    sender = FcmSender(fcm_settings(account_file, peer.url), clock=clock)
    try:
        result = await sender.send(device(), PUSH)
    finally:
        await sender.aclose()
    assert result.outcome is Outcome.FAILED
    assert result.detail.startswith("token endpoint 400 invalid_grant: Invalid JWT")
    assert peer.sent == []


async def test_an_assertion_from_a_clock_hours_behind_is_refused(
    running: tuple[FcmPeer, Path], clock: ManualClock
) -> None:
    peer, account_file = running
    sender = FcmSender(fcm_settings(account_file, peer.url), clock=lambda: clock() - 2 * 3600)
    try:
        result = await sender.send(device(), PUSH)
    finally:
        await sender.aclose()
    assert result.outcome is Outcome.FAILED
    assert "invalid_grant" in result.detail
    assert peer.refused_assertions == ["invalid_grant: Token used outside its timeframe"]


async def test_an_unreadable_service_account_fails(tmp_path: Path) -> None:
    (tmp_path / "account.json").write_text("{}")
    sender = FcmSender(fcm_settings(tmp_path / "account.json", "http://127.0.0.1:1"))
    try:
        result = await sender.send(device(), PUSH)
    finally:
        await sender.aclose()
    assert result.outcome is Outcome.FAILED
    assert result.detail.startswith("FCM service account account.json: KeyError")


async def test_an_unreachable_service_is_retried(running: tuple[FcmPeer, Path]) -> None:
    peer, account_file = running
    # The token comes, the send finds nobody listening.
    sender = FcmSender(fcm_settings(account_file, "http://127.0.0.1:1"))
    try:
        result = await sender.send(device(), PUSH)
    finally:
        await sender.aclose()
    assert result.outcome is Outcome.RETRY
    assert result.detail.startswith("ConnectError")
    assert len(peer.assertions) == 1


def test_configured_needs_the_service_account_file(tmp_path: Path) -> None:
    assert fcm.configured(Settings(fcm_service_account_file=tmp_path / "a.json"))
    assert not fcm.configured(Settings(fcm_service_account_file=None))
    with pytest.raises(ValueError, match="FCM needs"):
        FcmSender(Settings(fcm_service_account_file=None))
