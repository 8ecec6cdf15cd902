"""APNs: Apple's HTTP/2 provider API with token (JWT) authentication.

One `ApnsSender` per process holds one HTTP/2 connection: Apple asks providers to keep
connections open and reuse them rather than open one per notification, and to reuse the
provider token across them.
"""

from __future__ import annotations

import hashlib
import json
import re
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from nchat.config import Settings
from nchat.notifications.outcome import Device, Outcome, Push, Result
from nchat.notifications.retry_after import retry_after_s

MAX_PAYLOAD_BYTES = 4096
MAX_COLLAPSE_ID_BYTES = 64
# Apple refuses a provider token older than an hour (ExpiredProviderToken) and one renewed
# more often than every 20 minutes (TooManyProviderTokenUpdates): renew between the two.
TOKEN_RENEW_AFTER_S = 50 * 60
TIMEOUT = httpx.Timeout(15.0, connect=10.0)
# Device tokens are hex; Apple says not to rely on their length. Checked before the token
# goes into the request path.
DEVICE_TOKEN = re.compile(r"[0-9a-fA-F]{16,400}")
ELLIPSIS = "\u2026"


def configured(settings: Settings) -> bool:
    return None not in (
        settings.apns_key_file,
        settings.apns_key_id,
        settings.apns_team_id,
        settings.apns_topic,
    )


class ProviderKeyError(Exception):
    """The .p8 key cannot be used: a configuration problem, not the device's."""


class ProviderToken:
    """The provider JWT (ES256; kid = key id, iss = team id, iat), renewed after 50 minutes."""

    def __init__(
        self, key_file: Path, *, key_id: str, team_id: str, clock: Callable[[], float]
    ) -> None:
        self._key_file = key_file
        self._key_id = key_id
        self._team_id = team_id
        self._clock = clock
        self._key: ec.EllipticCurvePrivateKey | None = None
        self._token = ""
        self._issued_at = 0.0

    def current(self) -> str:
        if not self._token or self._clock() - self._issued_at >= TOKEN_RENEW_AFTER_S:
            return self.renew()
        return self._token

    def replace(self, refused: str) -> str:
        """A token in place of `refused`: a new one, unless a concurrent send already renewed
        it (each renewal counts against Apple's limit)."""
        return self._token if self._token and self._token != refused else self.renew()

    def renew(self) -> str:
        now = int(self._clock())
        self._token = jwt.encode(
            {"iss": self._team_id, "iat": now},
            self._private_key(),
            algorithm="ES256",
            headers={"kid": self._key_id},
        )
        self._issued_at = now
        return self._token

    def _private_key(self) -> ec.EllipticCurvePrivateKey:
        if self._key is None:
            try:
                key = load_pem_private_key(self._key_file.read_bytes(), password=None)
            except (OSError, ValueError, TypeError) as exc:
                raise ProviderKeyError(f"cannot read {self._key_file.name}: {exc}") from exc
            if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
                raise ProviderKeyError(f"{self._key_file.name} is not an EC P-256 key")
            self._key = key
        return self._key


def collapse_id(key: str) -> str:
    """An apns-collapse-id of at most 64 bytes: the key itself when short enough, else its
    SHA-256 (64 hex digits), so that distinct long keys stay distinct."""
    if len(key.encode()) <= MAX_COLLAPSE_ID_BYTES:
        return key
    return hashlib.sha256(key.encode()).hexdigest()


def _encode(push: Push, title: str, body: str) -> bytes:
    payload: dict[str, Any] = {key: value for key, value in push.data.items() if key != "aps"}
    payload["aps"] = {
        "alert": {"title": title, "body": body},
        "badge": push.badge,
        "sound": "default",
        # Lets a notification service extension rewrite the alert on the device.
        "mutable-content": 1,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def _shortened(text: str, encode: Callable[[str], bytes]) -> bytes | None:
    """The longest `text[:n] + "…"` whose encoding fits, by bisection (the size only grows
    with n); None when not even the ellipsis alone fits."""
    if len(encode(ELLIPSIS)) > MAX_PAYLOAD_BYTES:
        return None
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if len(encode(text[:middle] + ELLIPSIS)) <= MAX_PAYLOAD_BYTES:
            low = middle
        else:
            high = middle - 1
    return encode(text[:low].rstrip() + ELLIPSIS)


def payload(push: Push) -> bytes | None:
    """The notification's JSON, at most 4096 bytes: the body is shortened to fit, then the
    title when an empty body is not enough. None when the data alone is too large."""
    whole = _encode(push, push.title, push.body)
    if len(whole) <= MAX_PAYLOAD_BYTES:
        return whole
    fitted = _shortened(push.body, lambda body: _encode(push, push.title, body))
    if fitted is None:
        fitted = _shortened(push.title, lambda title: _encode(push, title, ""))
    return fitted


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    reason = body.get("reason") if isinstance(body, dict) else None
    return reason if isinstance(reason, str) else ""


def result_of(response: httpx.Response, *, now: float) -> Result:
    """What an APNs answer means for this device."""
    status = response.status_code
    if status == 200:
        return Result(Outcome.SENT, response.headers.get("apns-id", ""))
    reason = _reason(response)
    detail = f"{status} {reason}".rstrip()
    # 410: the token is no longer active for the topic (Unregistered, ExpiredToken).
    if status == 410 or (status == 400 and reason == "BadDeviceToken"):
        return Result(Outcome.GONE, detail)
    if status == 429 or status >= 500:
        wait = retry_after_s(response.headers.get("retry-after"), now=now)
        return Result(Outcome.RETRY, detail, retry_after_s=wait)
    return Result(Outcome.FAILED, detail)


class ApnsSender:
    """Sends alerts to iOS devices. `verify` is for tests that trust a local peer's
    certificate; production keeps the system's trust store."""

    def __init__(
        self,
        settings: Settings,
        *,
        verify: ssl.SSLContext | bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        key_file, key_id = settings.apns_key_file, settings.apns_key_id
        team_id, topic = settings.apns_team_id, settings.apns_topic
        if key_file is None or key_id is None or team_id is None or topic is None:
            raise ValueError("APNs needs apns_key_file, apns_key_id, apns_team_id, apns_topic")
        self._url = settings.apns_url.rstrip("/")
        self._topic = topic
        self._clock = clock
        self._token = ProviderToken(key_file, key_id=key_id, team_id=team_id, clock=clock)
        # HTTP/2 only: APNs speaks nothing else, and refusing HTTP/1.1 here makes a proxy or
        # a misconfigured peer fail loudly instead of half-working.
        self._client = httpx.AsyncClient(http1=False, http2=True, verify=verify, timeout=TIMEOUT)

    async def aclose(self) -> None:
        await self._client.aclose()

    def _headers(self, device: Device, push: Push) -> dict[str, str]:
        expiration = int(self._clock()) + push.ttl_s if push.ttl_s > 0 else 0
        headers = {
            "apns-topic": device.app_id or self._topic,
            "apns-push-type": "alert",
            "apns-priority": "10",
            "apns-expiration": str(expiration),
        }
        if push.collapse_key:
            headers["apns-collapse-id"] = collapse_id(push.collapse_key)
        return headers

    async def send(self, device: Device, push: Push) -> Result:
        token = device.token or ""
        if not DEVICE_TOKEN.fullmatch(token):
            # APNs would answer BadDeviceToken; the token is never going to work.
            return Result(Outcome.GONE, "BadDeviceToken (not sent: not a hex device token)")
        body = payload(push)
        if body is None:
            return Result(Outcome.FAILED, "payload over 4096 bytes even with an empty alert")
        url = f"{self._url}/3/device/{token}"
        headers = self._headers(device, push)
        try:
            provider = self._token.current()
            answer = await self._post(url, headers, body, provider)
            # Our token aged out (a clock jump, a long pause): renew once and resend at once.
            if (
                isinstance(answer, httpx.Response)
                and answer.status_code == 403
                and _reason(answer) == "ExpiredProviderToken"
            ):
                answer = await self._post(url, headers, body, self._token.replace(provider))
        except ProviderKeyError as exc:
            return Result(Outcome.FAILED, f"APNs key: {exc}")
        if isinstance(answer, Result):
            return answer
        return result_of(answer, now=self._clock())

    async def _post(
        self, url: str, headers: dict[str, str], body: bytes, provider: str
    ) -> httpx.Response | Result:
        try:
            return await self._client.post(
                url, content=body, headers={**headers, "authorization": f"bearer {provider}"}
            )
        except httpx.TransportError as exc:
            return Result(Outcome.RETRY, f"{type(exc).__name__}: {exc}".rstrip(": "))
