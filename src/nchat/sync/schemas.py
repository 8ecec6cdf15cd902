from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from nchat.channels.schemas import ChannelOut
from nchat.messages.schemas import ClientId, Emoji, MessageOut, Text
from nchat.realtime.events import EventOut
from nchat.storable import CleanModel, StrictModel

MAX_OPS = 500

OpType = Literal[
    "message.send",
    "message.edit",
    "message.delete",
    "reaction.add",
    "reaction.remove",
    "channel.read",
    "channel.join",
    "channel.leave",
]


RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(value: object) -> object:
    # Lax datetimes would take 0 or "0" as the epoch: a client's queue time is its text.
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time, e.g. 2026-01-31T09:30:00Z")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339)]


class SyncOp(StrictModel):
    client_op_id: ClientId
    type: OpType
    payload: dict[str, Any] = Field(default_factory=dict)
    queued_at: Timestamp | None = None


class QueueIn(StrictModel):
    operations: list[SyncOp] = Field(max_length=MAX_OPS)


class OpResult(BaseModel):
    client_op_id: str
    status: Literal["applied", "duplicate", "rejected"]
    error: dict[str, Any] | None = None
    result: dict[str, Any] | None = None


class QueueOut(BaseModel):
    results: list[OpResult]
    cursor: str


# Payloads of each operation type, checked like the REST bodies they mirror.
class SendPayload(StrictModel):
    channel_id: uuid.UUID
    text: Text
    thread_id: uuid.UUID | None = None


class EditPayload(StrictModel):
    message_id: uuid.UUID
    text: Text


class MessageRef(StrictModel):
    message_id: uuid.UUID


class ReactionPayload(StrictModel):
    message_id: uuid.UUID
    emoji: Emoji


class ReadPayload(StrictModel):
    channel_id: uuid.UUID
    message_id: uuid.UUID


class ChannelRef(StrictModel):
    channel_id: uuid.UUID


Cursor = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ChangesQuery(CleanModel):
    since: Cursor | None = None
    limit: int = Field(default=200, ge=1, le=1000)


class StatusQuery(CleanModel):
    since: Cursor | None = None


class StatusOut(BaseModel):
    cursor: str
    server_time: datetime
    last_sync_at: datetime | None
    pending_events: int
    mobile: dict[str, Any]


class BootstrapChannel(BaseModel):
    channel: ChannelOut
    messages: list[MessageOut]


class BootstrapOut(BaseModel):
    channels: list[BootstrapChannel]
    cursor: str
    max_messages: int


__all__ = ["EventOut"]
