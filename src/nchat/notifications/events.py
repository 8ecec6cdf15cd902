"""The notification settings' events: a person's own devices (and no one else) learn that
their settings changed, with the settings as they are now, so every open client shows the
same mute marks and form without a reload. Both are in the event log like any change, so a
client that was offline hears of them when it resumes from its cursor."""

from __future__ import annotations

from nchat.notifications.schemas import ChannelPreferences, Preferences
from nchat.realtime.events import register

register(Preferences, "notification_preferences.updated")
register(ChannelPreferences, "channel_notification_preferences.updated")
