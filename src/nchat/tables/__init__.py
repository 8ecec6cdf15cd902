"""Every table nchat keeps, one module per area, on one MetaData (`meta.py`).

The tables sit below every other layer but config: the event log routes by channel
membership, the session check reads users, and the channel list counts messages, so the
definitions are shared while the SQL that uses them stays in each package's repository.
Importing the package loads every table, so `metadata` is complete for migrations and the
doctor."""

from __future__ import annotations

from nchat.tables.admin import app_config, audit_log, config_versions
from nchat.tables.auth import login_failures, sessions
from nchat.tables.channels import channel_members, channels
from nchat.tables.exports import exports
from nchat.tables.files import file_deletions, files
from nchat.tables.limits import rate_limits
from nchat.tables.maintenance import maintenance
from nchat.tables.messages import (
    bookmarks,
    mentions,
    message_edits,
    messages,
    pinned_messages,
    reactions,
    thread_followers,
)
from nchat.tables.meta import metadata
from nchat.tables.notifications import (
    channel_notification_settings,
    notification_settings,
    notifications,
    notifier_position,
    push_devices,
)
from nchat.tables.realtime import events, presence
from nchat.tables.retention import channel_retention, retention_policy
from nchat.tables.sync import sync_ops
from nchat.tables.users import users

__all__ = [
    "app_config",
    "audit_log",
    "bookmarks",
    "channel_members",
    "channel_notification_settings",
    "channel_retention",
    "channels",
    "config_versions",
    "events",
    "exports",
    "file_deletions",
    "files",
    "login_failures",
    "maintenance",
    "mentions",
    "message_edits",
    "messages",
    "metadata",
    "notification_settings",
    "notifications",
    "notifier_position",
    "pinned_messages",
    "presence",
    "push_devices",
    "rate_limits",
    "reactions",
    "retention_policy",
    "sessions",
    "sync_ops",
    "thread_followers",
    "users",
]
