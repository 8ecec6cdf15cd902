"""FCM: Firebase Cloud Messaging's HTTP v1 API, authenticated as a service account.

The service account's key signs a JWT that Google's token endpoint exchanges for an OAuth 2
access token (the two-legged "JWT bearer" grant); the access token is kept until shortly
before it expires and shared by every send of the process.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from nchat.config import Settings
from nchat.notifications.outcome import Device, Outcome, Push, Result
from nchat.notifications.retry_after import retry_after_s

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_S = 3600
# Renew this long before the access token expires (less for very short-lived tokens), so a
# send never carries a token that lapses in flight.
RENEW_MARGIN_S = 300.0
TIMEOUT = httpx.Timeout(15.0, connect=10.0)
MAX_TTL_S = 28 * 24 * 3600
# Data keys FCM refuses (reserved words and prefixes).
RESERVED_KEYS = {"from", "notification", "message_type"}
RESERVED_PREFIXES = ("google", "gcm")
RETRY_STATUSES = {429, 500, 502, 503, 504}


def configured(settings: Settings) -> bool:
    return settings.fcm_service_account_file is not None


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    project_id: str
    client_email: str
    private_key_id: str
    private_key: rsa.RSAPrivateKey
    token_uri: str


class Refused(Exception):
    """Sending cannot proceed; `result` says what to do with the notification."""

    def __init__(self, result: Result) -> None:
        super().__init__(result.detail)
        self.result = result


def load_service_account(path: Path) -> ServiceAccount:
    """The fields of a Google service-account JSON key file that FCM needs."""

    def refused(why: str) -> Refused:
        return Refused(Result(Outcome.FAILED, f"FCM service account {path.name}: {why}"))

    try:
        info = json.loads(path.read_text())
        key = load_pem_private_key(info["private_key"].encode(), password=None)
        project_id, client_email = str(info["project_id"]), str(info["client_email"])
        token_uri, key_id = str(info["token_uri"]), str(info.get("private_key_id", ""))
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise refused(repr(exc)) from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise refused("private_key is not an RSA key")
    if not project_id:
        raise refused("no project_id")
    return ServiceAccount(
        project_id=project_id,
        client_email=client_email,
        private_key_id=key_id,
        private_key=key,
        token_uri=token_uri,
    )


def message(token: str, push: Push) -> dict[str, Any]:
    """The v1 `messages:send` body for one device."""
    ttl = min(max(push.ttl_s, 0), MAX_TTL_S)
    android_notification: dict[str, Any] = {"notification_count": push.badge}
    android: dict[str, Any] = {
        "priority": "high",
        "ttl": f"{ttl}s",
        "notification": android_notification,
    }
    if push.collapse_key:
        # collapse_key replaces a pending message; tag replaces one already shown.
        android["collapse_key"] = push.collapse_key
        android_notification["tag"] = push.collapse_key
    data = {
        key: str(value)
        for key, value in push.data.items()
        if key not in RESERVED_KEYS and not key.startswith(RESERVED_PREFIXES)
    }
    return {
        "message": {
            "token": token,
            "notification": {"title": push.title, "body": push.body},
            "data": data,
            "android": android,
            "apns": {"payload": {"aps": {"badge": push.badge}}},
        }
    }


def _error(response: httpx.Response) -> tuple[str, str, str, list[Any]]:
    """(status, errorCode, message, details) of a Google API error body."""
    try:
        body = response.json()
    except ValueError:
        return "", "", response.text[:200], []
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "", "", "", []
    details = error.get("details")
    details = details if isinstance(details, list) else []
    code = next((d["errorCode"] for d in details if isinstance(d, dict) and "errorCode" in d), "")
    return str(error.get("status", "")), str(code), str(error.get("message", "")), details


def _about_token(message_text: str, details: list[Any]) -> bool:
    """Whether an INVALID_ARGUMENT names the registration token (not our message)."""
    for detail in details:
        violations = detail.get("fieldViolations") if isinstance(detail, dict) else None
        for violation in violations if isinstance(violations, list) else []:
            if isinstance(violation, dict) and violation.get("field") == "message.token":
                return True
    return "registration token" in message_text.lower()


def result_of(response: httpx.Response, *, now: float) -> Result:
    """What an FCM answer means for this device."""
    status = response.status_code
    if status == 200:
        try:
            name = response.json().get("name", "")
        except (ValueError, AttributeError):
            name = ""
        return Result(Outcome.SENT, str(name))
    error_status, code, text, details = _error(response)
    detail = f"{status} {code or error_status}: {text}".strip(" :")
    if code == "UNREGISTERED":
        return Result(Outcome.GONE, detail)
    if status == 400 and "INVALID_ARGUMENT" in (code, error_status) and _about_token(text, details):
        return Result(Outcome.GONE, detail)
    if status in RETRY_STATUSES:
        wait = retry_after_s(response.headers.get("retry-after"), now=now)
        return Result(Outcome.RETRY, detail, retry_after_s=wait)
    return Result(Outcome.FAILED, detail)


class FcmSender:
    """Sends notifications to Android (and FCM-registered iOS) devices. `verify` is for tests
    that trust a local peer's certificate."""

    def __init__(
        self,
        settings: Settings,
        *,
        verify: ssl.SSLContext | bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if settings.fcm_service_account_file is None:
            raise ValueError("FCM needs fcm_service_account_file")
        self._account_file = settings.fcm_service_account_file
        self._url = settings.fcm_url.rstrip("/")
        self._clock = clock
        self._account: ServiceAccount | None = None
        self._access_token = ""
        self._renew_at = 0.0
        # One token request at a time: concurrent sends at start wait for the first one.
        self._lock = asyncio.Lock()
        self._client = httpx.AsyncClient(http2=True, verify=verify, timeout=TIMEOUT)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, device: Device, push: Push) -> Result:
        if not device.token:
            return Result(Outcome.GONE, "no FCM registration token")
        try:
            if self._account is None:
                self._account = load_service_account(self._account_file)
            account = self._account
            url = f"{self._url}/v1/projects/{quote(account.project_id, safe='')}/messages:send"
            body = message(device.token, push)
            token = await self._token(account, stale="")
            response = await self._post(url, body, token)
            # The token was revoked or expired early: one fresh token, one more try.
            if response.status_code == 401:
                token = await self._token(account, stale=token)
                response = await self._post(url, body, token)
        except Refused as refused:
            return refused.result
        return result_of(response, now=self._clock())

    async def _post(self, url: str, body: dict[str, Any], token: str) -> httpx.Response:
        try:
            return await self._client.post(
                url, json=body, headers={"authorization": f"Bearer {token}"}
            )
        except httpx.TransportError as exc:
            raise Refused(Result(Outcome.RETRY, f"{type(exc).__name__}: {exc}")) from exc

    async def _token(self, account: ServiceAccount, *, stale: str) -> str:
        """The cached access token, or a new one when it is due or is `stale` (refused)."""
        async with self._lock:
            fresh = self._clock() < self._renew_at
            if self._access_token and self._access_token != stale and fresh:
                return self._access_token
            await self._fetch_token(account)
            return self._access_token

    async def _fetch_token(self, account: ServiceAccount) -> None:
        now = int(self._clock())
        assertion = jwt.encode(
            {
                "iss": account.client_email,
                "scope": SCOPE,
                "aud": account.token_uri,
                "iat": now,
                "exp": now + ASSERTION_LIFETIME_S,
            },
            account.private_key,
            algorithm="RS256",
            headers={"kid": account.private_key_id} if account.private_key_id else None,
        )
        try:
            response = await self._client.post(
                account.token_uri, data={"grant_type": GRANT_TYPE, "assertion": assertion}
            )
        except httpx.TransportError as exc:
            raise Refused(Result(Outcome.RETRY, f"token: {type(exc).__name__}: {exc}")) from exc
        if response.status_code != 200:
            raise Refused(_token_refusal(response, now=now))
        try:
            answer = response.json()
            access_token = answer["access_token"]
            expires_in = float(answer.get("expires_in", ASSERTION_LIFETIME_S))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise Refused(Result(Outcome.RETRY, f"token: unreadable answer: {exc!r}")) from exc
        if not isinstance(access_token, str) or not access_token:
            raise Refused(Result(Outcome.RETRY, "token: no access_token in the answer"))
        self._access_token = access_token
        self._renew_at = now + expires_in - min(RENEW_MARGIN_S, expires_in / 2)


def _token_refusal(response: httpx.Response, *, now: float) -> Result:
    """The token endpoint said no: a 4xx means our account or key is wrong (retrying the same
    assertion will not help); throttling and server errors pass."""
    status = response.status_code
    try:
        body = response.json()
        reason = f"{body.get('error', '')}: {body.get('error_description', '')}"
    except (ValueError, AttributeError):
        reason = response.text[:200]
    detail = f"token endpoint {status} {reason}".strip(" :")
    if status in RETRY_STATUSES:
        wait = retry_after_s(response.headers.get("retry-after"), now=now)
        return Result(Outcome.RETRY, detail, retry_after_s=wait)
    return Result(Outcome.FAILED, detail)
