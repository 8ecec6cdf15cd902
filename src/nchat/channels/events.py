"""The channels' events and their data."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from nchat.realtime.events import register


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


# channel.deleted carries the channel as it was just before a hard delete.
register(ChannelInfo, "channel.created", "channel.updated", "channel.archived", "channel.deleted")
register(MemberChanged, "member.joined", "member.left", "member.updated")
