"""Models of the admin channel pages: every channel's metadata, never its messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from nchat.channels.schemas import ChannelType
from nchat.storable import CleanModel, StrictModel


class AdminChannelQuery(CleanModel):
    q: str | None = Field(default=None, max_length=80)
    kind: ChannelType | None = None
    archived: bool | None = None
    cursor: uuid.UUID | None = None
    limit: int = Field(default=50, ge=1, le=200)


class PersonBrief(BaseModel):
    id: uuid.UUID
    username: str


class AdminChannelOut(BaseModel):
    id: uuid.UUID
    name: str | None
    type: ChannelType
    private: bool  # not readable by non-members (everything but public channels)
    topic: str
    read_only: bool
    archived: bool
    archived_at: datetime | None
    member_count: int
    # The newest top-level message's time: activity, without the message.
    last_message_at: datetime | None
    owner: PersonBrief | None
    created_at: datetime
    # Who a direct or group conversation is between (None for named channels).
    dm_members: list[PersonBrief] | None


class AdminChannelList(BaseModel):
    channels: list[AdminChannelOut]
    next_cursor: str | None


class OwnerSet(StrictModel):
    user_id: uuid.UUID


class VisibilitySet(StrictModel):
    private: StrictBool


class ChannelDeletion(BaseModel):
    """The answer to a delete (202): the channel is gone for everyone already; `deleting`
    while its messages, files and the rest are removed in the background."""

    id: uuid.UUID
    status: Literal["deleting"]
