"""Request and response models of push devices and notification preferences."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool, StringConstraints, model_validator

from nchat.notifications.outcome import Platform
from nchat.storable import StrictModel
from nchat.users.schemas import Timezone

DeviceName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
]
# Base64url without padding, as browsers give them (PushSubscription.toJSON()).
B64Url = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+=*$")
]
Level = Literal["all", "mentions", "nothing"]
ChannelLevel = Literal["default", "all", "mentions", "nothing"]
PushContent = Literal["full", "sender", "none"]


class SubscriptionKeys(StrictModel):
    p256dh: B64Url
    auth: B64Url


class Subscription(StrictModel):
    endpoint: Annotated[str, StringConstraints(min_length=8, max_length=2048)]
    keys: SubscriptionKeys
    # Browsers add it (PushSubscription.toJSON()); nchat does not use it.
    expirationTime: int | None = None


class DeviceIn(StrictModel):
    platform: Platform
    device_id: DeviceName
    # apns and fcm: the provider's device token.
    token: Annotated[str, StringConstraints(min_length=1, max_length=4096)] | None = None
    # webpush: the browser's push subscription.
    subscription: Subscription | None = None
    # apns: the app's bundle id when it is not the server's NCHAT_APNS_TOPIC.
    app_id: (
        Annotated[str, StringConstraints(max_length=200, pattern=r"^[A-Za-z0-9.-]+$")] | None
    ) = None

    @model_validator(mode="after")
    def _shape(self) -> DeviceIn:
        if self.platform is Platform.WEBPUSH:
            if self.subscription is None or self.token is not None:
                raise ValueError("a webpush device has a subscription and no token")
        elif self.token is None or self.subscription is not None:
            raise ValueError(f"an {self.platform.value} device has a token and no subscription")
        return self


class DeviceRef(StrictModel):
    device_id: DeviceName


class DeviceOut(BaseModel):
    id: uuid.UUID
    device_id: str
    platform: Platform
    app_id: str | None
    # webpush: where the browser's push service receives (to match a subscription).
    endpoint: str | None
    created_at: datetime
    updated_at: datetime


class DeviceList(BaseModel):
    devices: list[DeviceOut]


class VapidKeyOut(BaseModel):
    # The application server key for PushManager.subscribe (base64url, uncompressed P-256).
    public_key: str


class DoNotDisturb(BaseModel):
    enabled: bool = False
    # Local times in `timezone`; the window may wrap past midnight (22:00 -> 07:00).
    start: time | None = None
    end: time | None = None
    timezone: str = "UTC"


class DoNotDisturbIn(StrictModel):
    enabled: StrictBool
    start: time | None = None
    end: time | None = None
    timezone: Timezone = "UTC"

    @model_validator(mode="after")
    def _shape(self) -> DoNotDisturbIn:
        if self.enabled and (self.start is None or self.end is None):
            raise ValueError("a do-not-disturb schedule needs start and end")
        for value in (self.start, self.end):
            if value is not None and value.tzinfo is not None:
                raise ValueError("start and end are local times; the zone is `timezone`")
        return self


class Preferences(BaseModel):
    level: Level = Field(description="all messages, mentions (DMs, @mentions, threads), nothing")
    push_content: PushContent = Field(
        description="what a push shows: full text, sender and channel only, or nothing"
    )
    email: bool = Field(description="missed DMs and mentions by email")
    dnd: DoNotDisturb


class PreferencesUpdate(StrictModel):
    """Only the fields given change."""

    level: Level | None = None
    push_content: PushContent | None = None
    email: StrictBool | None = None
    dnd: DoNotDisturbIn | None = None


class ChannelPreferences(BaseModel):
    channel_id: uuid.UUID
    level: ChannelLevel = Field(description="default: the person's own level")
    muted: bool


class ChannelPreferencesList(BaseModel):
    # Only the channels whose settings differ from the default (a level or muted).
    channels: list[ChannelPreferences]


class ChannelPreferencesUpdate(StrictModel):
    level: ChannelLevel | None = None
    muted: StrictBool | None = None
