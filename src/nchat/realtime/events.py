"""Typed event models: every event type's `data`, and the event envelope clients receive."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from nchat.messages.schemas import MessageOut
from nchat.users.schemas import UserOut


class MessageDeleted(BaseModel):
    message_id: uuid.UUID
    thread_id: uuid.UUID | None
    hard: bool


class ReactionChanged(BaseModel):
    message_id: uuid.UUID
    emoji: str
    user_id: uuid.UUID
    # How many people reacted with this emoji after the change.
    count: int


class PinChanged(BaseModel):
    message_id: uuid.UUID
    user_id: uuid.UUID


class ChannelInfo(BaseModel):
    """A channel as every member sees it (no per-viewer counts)."""

    id: uuid.UUID
    type: str
    name: str | None
    topic: str
    description: str
    read_only: bool
    archived: bool
    archived_at: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime
    member_count: int


class MemberChanged(BaseModel):
    channel_id: uuid.UUID
    user_id: uuid.UUID
    role: str | None = None
    # The channel after the change (member.joined, member.left): the joiner's devices can
    # show it at once, and everyone's member count is set, not incremented.
    channel: ChannelInfo | None = None


class ReadUpdated(BaseModel):
    channel_id: uuid.UUID
    last_read_id: uuid.UUID | None


EVENT_DATA: dict[str, type[BaseModel]] = {
    "message.created": MessageOut,
    "message.updated": MessageOut,
    "message.deleted": MessageDeleted,
    "reaction.added": ReactionChanged,
    "reaction.removed": ReactionChanged,
    "message.pinned": PinChanged,
    "message.unpinned": PinChanged,
    "channel.created": ChannelInfo,
    "channel.updated": ChannelInfo,
    "channel.archived": ChannelInfo,
    "member.joined": MemberChanged,
    "member.left": MemberChanged,
    "member.updated": MemberChanged,
    "read.updated": ReadUpdated,
    "user.updated": UserOut,
}


class EventOut(BaseModel):
    """One event as sockets and /api/sync/changes deliver it; `id` is the cursor after it."""

    id: str
    type: str
    channel_id: uuid.UUID | None
    data: dict[str, Any]
    created_at: datetime


class ChangesOut(BaseModel):
    events: list[EventOut]
    cursor: str
    has_more: bool
