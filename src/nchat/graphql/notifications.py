"""Notification preferences in GraphQL: the same services as REST."""

from __future__ import annotations

import strawberry

from nchat.graphql.args import parse_id, validated
from nchat.graphql.context import GqlContext
from nchat.notifications import service
from nchat.notifications.schemas import (
    ChannelPreferences,
    ChannelPreferencesUpdate,
    DoNotDisturbIn,
    Preferences,
    PreferencesUpdate,
)

Info = strawberry.Info[GqlContext, None]


@strawberry.type
class DoNotDisturb:
    enabled: bool
    start: str | None = strawberry.field(description="Local time, HH:MM:SS")
    end: str | None
    timezone: str


@strawberry.type
class NotificationPreferences:
    level: str = strawberry.field(description="all, mentions or nothing")
    push_content: str = strawberry.field(description="full, sender or none")
    email: bool
    dnd: DoNotDisturb

    @classmethod
    def of(cls, p: Preferences) -> NotificationPreferences:
        d = p.dnd
        return cls(
            level=p.level,
            push_content=p.push_content,
            email=p.email,
            dnd=DoNotDisturb(
                enabled=d.enabled,
                start=d.start.isoformat() if d.start else None,
                end=d.end.isoformat() if d.end else None,
                timezone=d.timezone,
            ),
        )


@strawberry.type
class ChannelNotificationPreferences:
    channel_id: strawberry.ID
    level: str = strawberry.field(description="default, all, mentions or nothing")
    muted: bool

    @classmethod
    def of(cls, p: ChannelPreferences) -> ChannelNotificationPreferences:
        return cls(channel_id=strawberry.ID(str(p.channel_id)), level=p.level, muted=p.muted)


@strawberry.input
class DoNotDisturbInput:
    enabled: bool
    start: str | None = None
    end: str | None = None
    timezone: str = "UTC"


async def my_preferences(info: Info) -> NotificationPreferences:
    principal = info.context.user()
    return NotificationPreferences.of(await service.get_preferences(info.context.conn, principal))


async def channel_preferences(
    info: Info, channel_id: strawberry.ID
) -> ChannelNotificationPreferences:
    principal = info.context.user()
    found = await service.get_channel_preferences(
        info.context.conn, principal, parse_id(channel_id, "channelId")
    )
    return ChannelNotificationPreferences.of(found)


async def update_preferences(
    info: Info,
    level: str | None = None,
    push_content: str | None = None,
    email: bool | None = None,
    dnd: DoNotDisturbInput | None = None,
) -> NotificationPreferences:
    principal = info.context.user()
    body = validated(
        PreferencesUpdate,
        level=level,
        push_content=push_content,
        email=email,
        dnd=None
        if dnd is None
        else validated(
            DoNotDisturbIn,
            enabled=dnd.enabled,
            start=dnd.start,
            end=dnd.end,
            timezone=dnd.timezone,
        ),
    )
    updated = await service.do_update_preferences(info.context.conn, principal, body)
    return NotificationPreferences.of(updated)


async def update_channel_preferences(
    info: Info, channel_id: strawberry.ID, level: str | None = None, muted: bool | None = None
) -> ChannelNotificationPreferences:
    principal = info.context.user()
    body = validated(ChannelPreferencesUpdate, level=level, muted=muted)
    updated = await service.do_update_channel_preferences(
        info.context.conn, principal, parse_id(channel_id, "channelId"), body
    )
    return ChannelNotificationPreferences.of(updated)
