from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictBool, StringConstraints

from nchat.storable import CleanModel, StrictModel

ChannelType = Literal["public", "private", "direct", "group", "announcement"]
NamedType = Literal["public", "private", "announcement"]
ChannelRole = Literal["admin", "member"]

ChannelName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=80, pattern=r"^[a-z0-9_-]+$"),
]
Topic = Annotated[str, StringConstraints(strip_whitespace=True, max_length=250)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]

MAX_GROUP_MEMBERS = 8


class ChannelCreate(StrictModel):
    name: ChannelName
    type: NamedType = "public"
    topic: Topic = ""
    description: Description = ""
    # Body booleans are strict (0 or "true" is refused); query strings keep true/false.
    read_only: StrictBool = False
    member_ids: list[uuid.UUID] = Field(default_factory=list, max_length=500)


class DirectCreate(StrictModel):
    user_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_GROUP_MEMBERS)


class ChannelPatch(StrictModel):
    name: ChannelName | None = None
    topic: Topic | None = None
    description: Description | None = None
    read_only: StrictBool | None = None
    archived: StrictBool | None = None


class MembersAdd(StrictModel):
    user_ids: list[uuid.UUID] = Field(min_length=1, max_length=500)


class MemberRoleSet(StrictModel):
    role: ChannelRole


class ChannelQuery(CleanModel):
    type: ChannelType | None = None
    q: str | None = Field(default=None, max_length=80)
    member: bool | None = None
    archived: bool | None = False
    limit: int = Field(default=100, ge=1, le=1000)
    cursor: uuid.UUID | None = None


class MemberBrief(BaseModel):
    id: uuid.UUID
    username: str
    name: str


class ChannelOut(BaseModel):
    id: uuid.UUID
    type: ChannelType
    name: str | None
    topic: str
    description: str
    read_only: bool
    archived: bool
    archived_at: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime
    member_count: int
    # The caller's own: membership, role, and (for members only, None otherwise) counts.
    is_member: bool
    channel_role: ChannelRole | None
    unread_count: int | None
    mention_count: int | None
    last_read_id: uuid.UUID | None
    last_message_at: datetime | None
    # The members of a direct or group DM (who the conversation is with).
    dm_members: list[MemberBrief] | None = None


class ChannelList(BaseModel):
    channels: list[ChannelOut]
    next_cursor: str | None


class MemberOut(BaseModel):
    user: MemberBrief
    role: ChannelRole
    joined_at: datetime


class MemberList(BaseModel):
    members: list[MemberOut]
    next_cursor: str | None


class MemberQuery(CleanModel):
    limit: int = Field(default=200, ge=1, le=1000)
    cursor: uuid.UUID | None = None
