"""What every push sender takes and answers: one device, one payload, one outcome."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Platform(enum.StrEnum):
    WEBPUSH = "webpush"
    APNS = "apns"
    FCM = "fcm"


@dataclass(frozen=True, slots=True)
class Device:
    """A registered device as the senders need it (a row of nchat_push_devices)."""

    id: str
    user_id: str
    platform: Platform
    device_id: str
    # apns and fcm: the provider's device token; webpush: None.
    token: str | None = None
    # webpush: the subscription.
    endpoint: str | None = None
    p256dh: str | None = None
    auth: str | None = None
    # apns: the bundle id (topic) when it differs from NCHAT_APNS_TOPIC; fcm: unused.
    app_id: str | None = None


@dataclass(frozen=True, slots=True)
class Push:
    """One notification for one person.

    `title`/`body` are what a lock screen shows (already reduced to what the person's privacy
    setting allows); `data` is what the client needs to open the right place (string values
    only: FCM's data map allows nothing else); `badge` is the person's unread mentions and DMs.
    """

    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)
    badge: int = 0
    # Replaces an earlier notification with the same key on the device (a message edited
    # within the delay): APNs apns-collapse-id, FCM collapse_key/tag, Web Push Topic.
    collapse_key: str | None = None
    ttl_s: int = 24 * 3600


class Outcome(enum.Enum):
    SENT = "sent"
    # The service says the device is gone (APNs 410 Unregistered, FCM UNREGISTERED, Web Push
    # 404/410): the device is removed.
    GONE = "gone"
    # Try again later (429, 5xx, a connection error), after `retry_after_s` when the service
    # said.
    RETRY = "retry"
    # Refused for a reason retrying will not fix (a bad request, a misconfiguration).
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    detail: str = ""
    retry_after_s: float | None = None
