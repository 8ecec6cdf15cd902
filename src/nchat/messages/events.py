"""The messages' events and their data (message.created and .updated carry the message)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from nchat.messages.schemas import MessageOut
from nchat.realtime.events import register


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


class ReadUpdated(BaseModel):
    """Sent to the reader alone, so their other devices take the counts as they are after
    the read instead of asking for them."""

    channel_id: uuid.UUID
    last_read_id: uuid.UUID | None
    unread_count: int
    mention_count: int


register(MessageOut, "message.created", "message.updated")
register(MessageDeleted, "message.deleted")
register(ReactionChanged, "reaction.added", "reaction.removed")
register(PinChanged, "message.pinned", "message.unpinned")
register(ReadUpdated, "read.updated")
