"""Web Push (RFC 8030) with message encryption (RFC 8291, aes128gcm) and VAPID (RFC 8292).

pywebpush encrypts for the subscription's keys; the requests go through one aiohttp session
per process (its connection pool keeps up with thousands of pushes a second where httpx's
spent most of its time choosing connections: measured with bench notify, decision 0042)."""

from __future__ import annotations

import hashlib
import json
import time

import aiohttp
from pywebpush import WebPusher

from nchat.config import Settings
from nchat.notifications import endpoints
from nchat.notifications.outcome import Device, Outcome, Push, Result
from nchat.notifications.retry_after import retry_after_s
from nchat.notifications.vapid import Signer

# What push services accept as a record: 4096 bytes after encryption (86 bytes of header,
# 17 of padding and tag) leaves this much plaintext.
MAX_PLAINTEXT = 3993
TIMEOUT = aiohttp.ClientTimeout(total=15.0, connect=10.0)
CONNECTIONS = 100
ELLIPSIS = "\u2026"


class WebPushSender:
    def __init__(self, settings: Settings, signer: Signer) -> None:
        self._signer = signer
        self._allow_private = settings.push_allow_private_endpoints
        self._session = aiohttp.ClientSession(
            timeout=TIMEOUT, connector=aiohttp.TCPConnector(limit=CONNECTIONS)
        )

    async def aclose(self) -> None:
        await self._session.close()

    async def send(self, device: Device, push: Push) -> Result:
        endpoint = device.endpoint
        if endpoint is None or device.p256dh is None or device.auth is None:
            return Result(Outcome.GONE, "not a Web Push subscription")
        try:
            await endpoints.check(endpoint, allow_private=self._allow_private)
        except endpoints.EndpointRefused as exc:
            return Result(Outcome.GONE, str(exc))
        subscription = {
            "endpoint": endpoint,
            "keys": {"p256dh": device.p256dh, "auth": device.auth},
        }
        try:
            body = WebPusher(subscription).encode(payload(push), "aes128gcm")["body"]
        except (ValueError, TypeError) as exc:  # keys that are not a P-256 point
            return Result(Outcome.GONE, f"the subscription's keys cannot be used: {exc}")
        headers = {
            "Authorization": self._signer.authorization(endpoint),
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(push.ttl_s),
            "Urgency": "high",
        }
        if push.collapse_key:
            headers["Topic"] = topic(push.collapse_key)
        try:
            async with self._session.post(
                endpoint, data=body, headers=headers, allow_redirects=False
            ) as response:
                text = (await response.content.read(200)).decode("utf-8", "replace")
                return _outcome(response.status, response.headers.get("retry-after"), text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Result(Outcome.RETRY, f"{type(exc).__name__}: {exc}")


def _outcome(status: int, retry_after: str | None, text: str) -> Result:
    detail = f"{status} {text}"
    if status in (200, 201, 202):
        return Result(Outcome.SENT)
    if status in (404, 410):
        return Result(Outcome.GONE, detail)
    if status == 429 or status >= 500:
        return Result(Outcome.RETRY, detail, retry_after_s(retry_after, now=time.time()))
    return Result(Outcome.FAILED, detail)


def topic(key: str) -> str:
    """A Topic header (at most 32 base64url characters) standing for `key`."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def payload(push: Push) -> bytes:
    """The JSON the service worker receives, the body cut to fit one record."""
    message = {
        "title": push.title,
        "body": push.body,
        "badge": push.badge,
        "tag": push.collapse_key,
        "data": push.data,
    }
    encoded = json.dumps(message, ensure_ascii=False).encode()
    body = push.body
    while len(encoded) > MAX_PLAINTEXT and body:
        body = body[: max(0, len(body) - (len(encoded) - MAX_PLAINTEXT) - 8)]
        message["body"] = body + ELLIPSIS
        encoded = json.dumps(message, ensure_ascii=False).encode()
    return encoded
