"""The APNs sender against a local provider API that checks HTTP/2, the provider JWT, the
headers and the payload like Apple's does (tests/fixtures/apns_peer.py)."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from nchat.config import Settings
from nchat.notifications import apns
from nchat.notifications.apns import ApnsSender
from nchat.notifications.outcome import Device, Outcome, Platform, Push, Result
from nchat.notifications.retry_after import retry_after_s
from tests.fixtures.apns_peer import ApnsPeer, running_apns_peer, write_apns_key
from tests.fixtures.clock import ManualClock

KEY_ID = "ABC123DEFG"
TEAM_ID = "DEF123GHIJ"
TOPIC = "org.nchat.app"
OTHER_TOPIC = "org.nchat.app.beta"
PUSH = Push(
    title="Ada in #general",
    body="the build is green",
    data={"channel_id": "c-1", "message_id": "m-1"},
    badge=3,
)


def apns_settings(key_file: Path, url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "apns_key_file": key_file,
        "apns_key_id": KEY_ID,
        "apns_team_id": TEAM_ID,
        "apns_topic": TOPIC,
        "apns_url": url,
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def device(token: str | None = None, app_id: str | None = None) -> Device:
    return Device(
        id="d-1",
        user_id="u-1",
        platform=Platform.APNS,
        device_id="phone",
        token=secrets.token_hex(32) if token is None else token,
        app_id=app_id,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return tmp_path / f"AuthKey_{KEY_ID}.p8"


@pytest.fixture
def peer(tmp_path: Path, key_file: Path, clock: ManualClock) -> Iterator[ApnsPeer]:
    public_key = write_apns_key(key_file)
    topics = {TOPIC, OTHER_TOPIC}
    with running_apns_peer(
        tmp_path, public_key=public_key, key_id=KEY_ID, team_id=TEAM_ID, topics=topics, clock=clock
    ) as running:
        yield running


@pytest.fixture
async def sender(peer: ApnsPeer, key_file: Path, clock: ManualClock) -> AsyncIterator[ApnsSender]:
    made = ApnsSender(apns_settings(key_file, peer.url), verify=peer.client_tls, clock=clock)
    yield made
    await made.aclose()


async def test_an_alert_goes_over_http2_with_a_signed_provider_token(
    sender: ApnsSender, peer: ApnsPeer, clock: ManualClock
) -> None:
    phone = device()
    result = await sender.send(phone, PUSH)

    assert result.outcome is Outcome.SENT, result
    assert result.detail  # the apns-id
    [seen] = peer.received
    assert (seen.alpn, seen.status, seen.token) == ("h2", 200, phone.token)
    assert seen.jwt_header == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
    assert seen.jwt_claims == {"iss": TEAM_ID, "iat": int(clock())}
    assert seen.headers["apns-topic"] == TOPIC
    assert seen.headers["apns-push-type"] == "alert"
    assert seen.headers["apns-priority"] == "10"
    assert seen.headers["apns-expiration"] == str(int(clock()) + PUSH.ttl_s)
    assert "apns-collapse-id" not in seen.headers
    # What arrived is exactly what was meant: the alert, the badge, the data at top level.
    assert seen.payload == {
        "aps": {
            "alert": {"title": PUSH.title, "body": PUSH.body},
            "badge": 3,
            "sound": "default",
            "mutable-content": 1,
        },
        "channel_id": "c-1",
        "message_id": "m-1",
    }
    assert seen.body == apns.payload(PUSH)


async def test_http1_is_refused_like_apple_does(peer: ApnsPeer) -> None:
    async with httpx.AsyncClient(verify=peer.client_tls, http1=True, http2=False) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post(f"{peer.url}/3/device/{'ab' * 32}", content=b"{}")
    assert peer.received == []
    assert peer.refused[0].startswith(b"POST /3/device/")


async def test_the_device_app_id_is_the_topic_and_must_be_one_of_the_team(
    sender: ApnsSender, peer: ApnsPeer
) -> None:
    assert (await sender.send(device(app_id=OTHER_TOPIC), PUSH)).outcome is Outcome.SENT
    assert peer.received[-1].headers["apns-topic"] == OTHER_TOPIC

    result = await sender.send(device(app_id="com.example.someone-else"), PUSH)
    assert result == Result(Outcome.FAILED, "400 TopicDisallowed")


async def test_one_provider_token_serves_every_send_until_50_minutes(
    sender: ApnsSender, peer: ApnsPeer, clock: ManualClock
) -> None:
    results = await asyncio.gather(*(sender.send(device(), PUSH) for _ in range(6)))
    assert {r.outcome for r in results} == {Outcome.SENT}
    clock.advance(49 * 60)
    assert (await sender.send(device(), PUSH)).outcome is Outcome.SENT
    assert len(peer.provider_tokens()) == 1

    clock.advance(2 * 60)
    assert (await sender.send(device(), PUSH)).outcome is Outcome.SENT
    _first, renewed = peer.provider_tokens()
    assert peer.received[-1].jwt == renewed
    assert peer.received[-1].jwt_claims == {"iss": TEAM_ID, "iat": int(clock())}


@pytest.mark.parametrize(
    ("status", "reason"),
    [(410, "Unregistered"), (410, "ExpiredToken"), (400, "BadDeviceToken")],
)
async def test_a_device_apple_no_longer_knows_is_gone(
    sender: ApnsSender, peer: ApnsPeer, status: int, reason: str
) -> None:
    phone = device()
    peer.answer(phone.token or "", status, reason)
    assert await sender.send(phone, PUSH) == Result(Outcome.GONE, f"{status} {reason}")


async def test_a_malformed_device_token_is_gone(sender: ApnsSender, peer: ApnsPeer) -> None:
    # Hex but too short for Apple: the peer's own check answers BadDeviceToken.
    assert await sender.send(device("ab" * 16), PUSH) == Result(Outcome.GONE, "400 BadDeviceToken")
    # Not hex at all: never put into a request path.
    result = await sender.send(device("../../3/device/x"), PUSH)
    assert result.outcome is Outcome.GONE
    assert len(peer.received) == 1


async def test_throttling_and_server_errors_are_retried_when_apple_says(
    sender: ApnsSender, peer: ApnsPeer, clock: ManualClock
) -> None:
    throttled, broken, down = device(), device(), device()
    peer.answer(throttled.token or "", 429, "TooManyRequests", retry_after="120")
    peer.answer(broken.token or "", 500, "InternalServerError")
    later = email.utils.formatdate(clock() + 90, usegmt=True)
    peer.answer(down.token or "", 503, "ServiceUnavailable", retry_after=later)

    assert await sender.send(throttled, PUSH) == Result(
        Outcome.RETRY, "429 TooManyRequests", retry_after_s=120.0
    )
    assert await sender.send(broken, PUSH) == Result(Outcome.RETRY, "500 InternalServerError")
    result = await sender.send(down, PUSH)
    assert (result.outcome, result.detail) == (Outcome.RETRY, "503 ServiceUnavailable")
    assert result.retry_after_s is not None
    assert 88 <= result.retry_after_s <= 91


async def test_an_expired_provider_token_is_renewed_once_and_the_alert_resent(
    sender: ApnsSender, peer: ApnsPeer, clock: ManualClock
) -> None:
    assert (await sender.send(device(), PUSH)).outcome is Outcome.SENT
    phone = device()
    peer.answer(phone.token or "", 403, "ExpiredProviderToken", times=1)
    clock.advance(30)

    assert (await sender.send(phone, PUSH)).outcome is Outcome.SENT
    refused, resent = peer.received[-2:]
    assert (refused.status, resent.status) == (403, 200)
    assert refused.token == resent.token == phone.token
    assert len(peer.provider_tokens()) == 2
    assert resent.jwt_claims == {"iss": TEAM_ID, "iat": int(clock())}
    # The renewed token is the one kept for what follows.
    assert (await sender.send(device(), PUSH)).outcome is Outcome.SENT
    assert peer.received[-1].jwt == resent.jwt


def test_sends_refused_with_the_same_token_renew_it_only_once(
    key_file: Path, clock: ManualClock
) -> None:
    write_apns_key(key_file)
    token = apns.ProviderToken(key_file, key_id=KEY_ID, team_id=TEAM_ID, clock=clock)
    refused = token.current()
    clock.advance(1)
    renewed = token.replace(refused)
    assert renewed != refused
    # A second send that was refused the old token takes the renewed one.
    assert token.replace(refused) == renewed
    assert token.current() == renewed


async def test_a_token_that_stays_expired_fails_after_one_renewal(
    sender: ApnsSender, peer: ApnsPeer, clock: ManualClock
) -> None:
    # The provider's clock is more than an hour behind Apple's: renewing does not help.
    peer.clock = lambda: clock() + 3700
    assert await sender.send(device(), PUSH) == Result(Outcome.FAILED, "403 ExpiredProviderToken")
    assert [r.reason for r in peer.received] == ["ExpiredProviderToken"] * 2


@pytest.mark.parametrize("wrong", ["key", "key_id", "team_id"])
async def test_a_provider_token_apple_cannot_verify_fails(
    peer: ApnsPeer, tmp_path: Path, key_file: Path, clock: ManualClock, wrong: str
) -> None:
    overrides: dict[str, object] = {}
    if wrong == "key":
        overrides["apns_key_file"] = tmp_path / "other.p8"
        write_apns_key(tmp_path / "other.p8")
    else:
        overrides[f"apns_{wrong}"] = "ZZZ999ZZZZ"
    settings = apns_settings(key_file, peer.url, **overrides)
    sender = ApnsSender(settings, verify=peer.client_tls, clock=clock)
    try:
        assert await sender.send(device(), PUSH) == Result(
            Outcome.FAILED, "403 InvalidProviderToken"
        )
    finally:
        await sender.aclose()


async def test_other_refusals_fail_with_apples_reason(sender: ApnsSender, peer: ApnsPeer) -> None:
    phone = device()
    peer.answer(phone.token or "", 400, "DeviceTokenNotForTopic")
    assert await sender.send(phone, PUSH) == Result(Outcome.FAILED, "400 DeviceTokenNotForTopic")


async def test_an_unreadable_key_fails_without_a_request(
    peer: ApnsPeer, tmp_path: Path, clock: ManualClock
) -> None:
    (tmp_path / "broken.p8").write_text("not a key")
    settings = apns_settings(tmp_path / "broken.p8", peer.url)
    sender = ApnsSender(settings, verify=peer.client_tls, clock=clock)
    try:
        result = await sender.send(device(), PUSH)
    finally:
        await sender.aclose()
    assert result.outcome is Outcome.FAILED
    assert result.detail.startswith("APNs key: cannot read broken.p8")
    assert peer.received == []


async def test_an_unreachable_service_is_retried(key_file: Path, peer: ApnsPeer) -> None:
    closed = httpx.URL(peer.url).copy_with(port=1)
    sender = ApnsSender(apns_settings(key_file, str(closed)), verify=peer.client_tls)
    try:
        result = await sender.send(device(), PUSH)
    finally:
        await sender.aclose()
    assert result.outcome is Outcome.RETRY
    assert result.detail.startswith("ConnectError")


async def test_a_long_body_is_cut_to_fit_4096_bytes(sender: ApnsSender, peer: ApnsPeer) -> None:
    long_body = "é" * 5000
    assert (await sender.send(device(), Push(title="t", body=long_body))).outcome is Outcome.SENT
    [seen] = peer.received
    assert 4000 < len(seen.body) <= 4096
    assert seen.payload is not None
    sent_body = seen.payload["aps"]["alert"]["body"]
    assert sent_body.endswith("…")
    assert long_body.startswith(sent_body.removesuffix("…"))


async def test_a_long_title_is_cut_when_an_empty_body_is_not_enough(
    sender: ApnsSender, peer: ApnsPeer
) -> None:
    push = Push(title="T" * 5000, body="b" * 5000)
    assert (await sender.send(device(), push)).outcome is Outcome.SENT
    [seen] = peer.received
    assert seen.payload is not None
    alert = seen.payload["aps"]["alert"]
    assert alert["body"] == ""
    assert alert["title"].startswith("TTTT") and alert["title"].endswith("…")
    assert len(seen.body) == 4096


async def test_data_too_large_for_any_alert_fails_without_a_request(
    sender: ApnsSender, peer: ApnsPeer
) -> None:
    push = Push(title="t", body="b", data={"blob": "x" * 5000})
    result = await sender.send(device(), push)
    assert result.outcome is Outcome.FAILED
    assert peer.received == []


async def test_the_peer_refuses_a_payload_over_4096_bytes(
    peer: ApnsPeer, sender: ApnsSender
) -> None:
    # The limit the sender keeps is one the peer enforces: without the cut, Apple says no.
    await sender.send(device(), PUSH)
    token = peer.received[0].jwt
    oversized = json.dumps({"aps": {"alert": {"title": "t", "body": "b" * 4100}}}).encode()
    async with httpx.AsyncClient(verify=peer.client_tls, http1=False, http2=True) as client:
        response = await client.post(
            f"{peer.url}/3/device/{'ab' * 32}",
            content=oversized,
            headers={
                "authorization": f"bearer {token}",
                "apns-topic": TOPIC,
                "apns-push-type": "alert",
            },
        )
    assert (response.status_code, response.json()["reason"]) == (413, "PayloadTooLarge")


async def test_a_collapse_key_becomes_an_apns_collapse_id_of_at_most_64_bytes(
    sender: ApnsSender, peer: ApnsPeer
) -> None:
    short = Push(title="t", body="b", collapse_key="message:m-1")
    long_key = "message:" + "é" * 60
    long = Push(title="t", body="b", collapse_key=long_key)
    assert (await sender.send(device(), short)).outcome is Outcome.SENT
    assert (await sender.send(device(), long)).outcome is Outcome.SENT
    first, second = peer.received
    assert first.headers["apns-collapse-id"] == "message:m-1"
    assert second.headers["apns-collapse-id"] == hashlib.sha256(long_key.encode()).hexdigest()


async def test_a_zero_ttl_asks_for_one_delivery_attempt(sender: ApnsSender, peer: ApnsPeer) -> None:
    assert (await sender.send(device(), Push(title="t", body="b", ttl_s=0))).outcome is Outcome.SENT
    assert peer.received[0].headers["apns-expiration"] == "0"


def test_configured_needs_all_four_settings(tmp_path: Path) -> None:
    settings = apns_settings(tmp_path / "k.p8", "https://apns.invalid")
    assert apns.configured(settings)
    for name in ("apns_key_file", "apns_key_id", "apns_team_id", "apns_topic"):
        partial = settings.model_copy(update={name: None})
        assert not apns.configured(partial)
        with pytest.raises(ValueError, match="APNs needs"):
            ApnsSender(partial)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = 1_700_000_000.0
    assert retry_after_s("30", now=now) == 30.0
    assert retry_after_s(email.utils.formatdate(now + 45, usegmt=True), now=now) == 45.0
    assert retry_after_s(email.utils.formatdate(now - 45, usegmt=True), now=now) == 0.0
    assert retry_after_s("9" * 12, now=now) == 24 * 3600.0
    for unreadable in (None, "", "soon", "-5", "1.5", "²"):
        assert retry_after_s(unreadable, now=now) is None
