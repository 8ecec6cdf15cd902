"""Every table nchat expects, imported once so MetaData is complete (migrations, doctor)."""

from __future__ import annotations

from nchat.admin.models import app_config, audit_log
from nchat.auth.models import login_failures, sessions
from nchat.channels.models import channel_members, channels
from nchat.db.meta import metadata
from nchat.limits.models import rate_limits
from nchat.messages.models import (
    bookmarks,
    mentions,
    message_edits,
    messages,
    pinned_messages,
    reactions,
    thread_followers,
)
from nchat.realtime.models import events, presence
from nchat.sync.models import sync_ops
from nchat.users.models import users

__all__ = [
    "app_config",
    "audit_log",
    "bookmarks",
    "channel_members",
    "channels",
    "events",
    "login_failures",
    "mentions",
    "message_edits",
    "messages",
    "metadata",
    "pinned_messages",
    "presence",
    "rate_limits",
    "reactions",
    "sessions",
    "sync_ops",
    "thread_followers",
    "users",
]
