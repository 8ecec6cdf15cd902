"""Push devices and notification preferences: the rules, for REST and GraphQL alike."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.admin.service import get_config
from nchat.auth.deps import Principal
from nchat.channels import service as channels
from nchat.config import Settings
from nchat.errors import Forbidden, NotFound, ValidationFailed
from nchat.notifications import endpoints
from nchat.notifications import events as _events  # noqa: F401  (registers the event data)
from nchat.notifications import repository as repo
from nchat.notifications.outcome import Platform
from nchat.notifications.schemas import (
    ChannelPreferences,
    ChannelPreferencesList,
    ChannelPreferencesUpdate,
    DeviceIn,
    DeviceOut,
    DoNotDisturb,
    Preferences,
    PreferencesUpdate,
)
from nchat.realtime import log

MAX_DEVICES = 20
P256_POINT_BYTES = 65  # uncompressed: 0x04, x, y
AUTH_SECRET_BYTES = 16


def _b64url(value: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed("keys must be base64url", code="invalid_subscription") from exc


async def _checked(body: DeviceIn, settings: Settings) -> dict[str, Any]:
    values: dict[str, Any] = {
        "device_id": body.device_id,
        "platform": body.platform.value,
        "app_id": body.app_id,
        "token": None,
        "endpoint": None,
        "p256dh": None,
        "auth": None,
    }
    if body.platform is not Platform.WEBPUSH:
        values["token"] = body.token
        return values
    assert body.subscription is not None  # the schema checked the shape
    subscription = body.subscription
    point, secret = _b64url(subscription.keys.p256dh), _b64url(subscription.keys.auth)
    if len(point) != P256_POINT_BYTES or point[0] != 4:
        raise ValidationFailed(
            "keys.p256dh must be an uncompressed P-256 point (65 bytes)",
            code="invalid_subscription",
        )
    if len(secret) != AUTH_SECRET_BYTES:
        raise ValidationFailed("keys.auth must be 16 bytes", code="invalid_subscription")
    try:
        await endpoints.check(
            subscription.endpoint, allow_private=settings.push_allow_private_endpoints
        )
    except endpoints.EndpointRefused as exc:
        raise ValidationFailed(str(exc), code="invalid_endpoint") from exc
    values.update(
        endpoint=subscription.endpoint,
        p256dh=subscription.keys.p256dh,
        auth=subscription.keys.auth,
    )
    return values


async def do_register(
    conn: AsyncConnection, principal: Principal, body: DeviceIn, settings: Settings
) -> DeviceOut:
    """Register (or replace) one device of the caller, tied to this session."""
    if not (await get_config(conn))["features"]["push"]:
        raise Forbidden("Push notifications are turned off on this server", code="push_disabled")
    values = await _checked(body, settings)
    known = await repo.has_device(conn, principal.id, body.device_id)
    if not known and await repo.count_devices(conn, principal.id) >= MAX_DEVICES:
        raise ValidationFailed(
            f"At most {MAX_DEVICES} devices per person: unregister one first",
            code="too_many_devices",
        )
    row = await repo.upsert_device(conn, principal.id, principal.session_id, values)
    return device_out(row)


async def do_unregister(conn: AsyncConnection, principal: Principal, device_id: str) -> None:
    if not await repo.delete_device(conn, principal.id, device_id):
        raise NotFound("No such device", code="device_not_found")


async def list_devices(conn: AsyncConnection, principal: Principal) -> list[DeviceOut]:
    return [device_out(row) for row in await repo.list_devices(conn, principal.id)]


def device_out(row: RowMapping) -> DeviceOut:
    return DeviceOut(
        id=row["id"],
        device_id=row["device_id"],
        platform=Platform(row["platform"]),
        app_id=row["app_id"],
        endpoint=row["endpoint"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# -- preferences -------------------------------------------------------------------------


async def get_preferences(conn: AsyncConnection, principal: Principal) -> Preferences:
    return _preferences(await repo.get_settings(conn, principal.id))


async def do_update_preferences(
    conn: AsyncConnection, principal: Principal, body: PreferencesUpdate
) -> Preferences:
    values: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"dnd"})
    values = {key: value for key, value in values.items() if value is not None}
    if body.dnd is not None:
        values.update(
            dnd_enabled=body.dnd.enabled,
            dnd_start=body.dnd.start,
            dnd_end=body.dnd.end,
            dnd_timezone=body.dnd.timezone,
        )
    before = await get_preferences(conn, principal)
    if not values:
        return before
    await repo.put_settings(conn, principal.id, values)
    after = await get_preferences(conn, principal)
    await _preferences_changed(conn, principal.id, before, after)
    return after


async def do_stop_emails(conn: AsyncConnection, user_id: uuid.UUID) -> bool:
    """Email off for a person (an unsubscribe link); False when there is no such person."""
    before = _preferences(await repo.get_settings(conn, user_id))
    if not await repo.stop_emails(conn, user_id):
        return False
    after = _preferences(await repo.get_settings(conn, user_id))
    await _preferences_changed(conn, user_id, before, after)
    return True


async def _preferences_changed(
    conn: AsyncConnection, user_id: uuid.UUID, before: Preferences, after: Preferences
) -> None:
    # Only the person's own sockets hear it (target_user_id), and only when something
    # changed: a save that repeats the settings tells nobody.
    if after != before:
        await log.emit(
            conn,
            "notification_preferences.updated",
            after,
            channel_id=None,
            actor_id=user_id,
            target_user_id=user_id,
        )


def _preferences(row: RowMapping | None) -> Preferences:
    if row is None:
        return Preferences(level="mentions", push_content="full", email=True, dnd=DoNotDisturb())
    return Preferences(
        level=row["level"],
        push_content=row["push_content"],
        email=row["email"],
        dnd=DoNotDisturb(
            enabled=row["dnd_enabled"],
            start=row["dnd_start"],
            end=row["dnd_end"],
            timezone=row["dnd_timezone"],
        ),
    )


async def get_channel_preferences(
    conn: AsyncConnection, principal: Principal, channel_id: uuid.UUID
) -> ChannelPreferences:
    access = await channels.get_access(conn, channel_id, principal)
    if not access.is_member:
        raise channels.channel_not_found()
    row = await repo.get_channel_settings(conn, principal.id, channel_id)
    return ChannelPreferences(
        channel_id=channel_id,
        level=row["level"] if row else "default",
        muted=row["muted"] if row else False,
    )


async def list_channel_preferences(
    conn: AsyncConnection, principal: Principal
) -> ChannelPreferencesList:
    rows = await repo.channel_settings_of(conn, principal.id)
    return ChannelPreferencesList(
        channels=[
            ChannelPreferences(channel_id=row["channel_id"], level=row["level"], muted=row["muted"])
            for row in rows
        ]
    )


async def do_update_channel_preferences(
    conn: AsyncConnection,
    principal: Principal,
    channel_id: uuid.UUID,
    body: ChannelPreferencesUpdate,
) -> ChannelPreferences:
    """Only members have preferences for a channel; anyone else gets its 404."""
    before = await get_channel_preferences(conn, principal, channel_id)
    values = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if not values:
        return before
    await repo.put_channel_settings(conn, principal.id, channel_id, values)
    after = await get_channel_preferences(conn, principal, channel_id)
    if after != before:
        # The person's other clients mark the channel (un)muted at once.
        await log.emit(
            conn,
            "channel_notification_preferences.updated",
            after,
            channel_id=channel_id,
            actor_id=principal.id,
            target_user_id=principal.id,
        )
    return after
