"""GraphQL types: thin views over the REST response models (camelCase by Strawberry)."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from nchat.channels.schemas import ChannelOut
from nchat.errors import NotFound
from nchat.files.schemas import FileOut
from nchat.graphql.context import GqlContext
from nchat.messages.schemas import MessageOut, ReadOut, ThreadOut
from nchat.search.schemas import SearchResults
from nchat.users.schemas import UserOut


@strawberry.type
class User:
    id: strawberry.ID
    username: str
    name: str
    email: str | None
    role: str
    avatar_url: str | None
    timezone: str | None
    locale: str | None
    status_text: str | None
    is_active: bool
    created_at: datetime
    deleted_at: datetime | None

    @classmethod
    def of(cls, u: UserOut) -> User:
        return cls(
            id=strawberry.ID(str(u.id)),
            username=u.username,
            name=u.name,
            email=u.email,
            role=u.role,
            avatar_url=u.avatar_url,
            timezone=u.timezone,
            locale=u.locale,
            status_text=u.status_text,
            is_active=u.is_active,
            created_at=u.created_at,
            deleted_at=u.deleted_at,
        )


@strawberry.type
class Reaction:
    emoji: str
    count: int
    me: bool


@strawberry.type
class Mentions:
    user_ids: list[strawberry.ID]
    channel: bool
    here: bool


@strawberry.type
class File:
    id: strawberry.ID
    name: str
    size: float  # bytes; GraphQL's Int is 32-bit
    content_type: str
    sha256: str
    width: int | None
    height: int | None
    url: str
    thumbnail_url: str | None
    preview_url: str | None
    created_at: datetime

    @classmethod
    def of(cls, f: FileOut) -> File:
        return cls(
            id=_id(f.id),
            name=f.name,
            size=f.size,
            content_type=f.content_type,
            sha256=f.sha256,
            width=f.width,
            height=f.height,
            url=f.url,
            thumbnail_url=f.thumbnail_url,
            preview_url=f.preview_url,
            created_at=f.created_at,
        )


@strawberry.type
class Message:
    id: strawberry.ID
    channel_id: strawberry.ID
    text: str | None
    html: str | None = strawberry.field(
        description="The text as sanitised HTML, rendered by the server (as REST's "
        "MessageOut.html): show it as it is. Null once deleted, like the text."
    )
    thread_id: strawberry.ID | None
    reply_count: int
    last_reply_at: datetime | None
    participants: list[strawberry.ID]
    reactions: list[Reaction]
    mentions: Mentions
    files: list[File]
    pinned: bool
    client_id: str | None
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None
    user_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def user(self, info: strawberry.Info[GqlContext, None]) -> User:
        found = await info.context.users.load(self.user_id)
        if found is None:  # the author row is gone only after a hard user purge
            raise NotFound("No such user", code="user_not_found")
        return User.of(found)

    @classmethod
    def of(cls, m: MessageOut) -> Message:
        return cls(
            id=_id(m.id),
            channel_id=_id(m.channel_id),
            text=m.text,
            html=m.html,
            thread_id=_id(m.thread_id) if m.thread_id else None,
            reply_count=m.reply_count,
            last_reply_at=m.last_reply_at,
            participants=[_id(p) for p in m.participants],
            reactions=[Reaction(emoji=r.emoji, count=r.count, me=r.me) for r in m.reactions],
            mentions=Mentions(
                user_ids=[_id(u) for u in m.mentions.user_ids],
                channel=m.mentions.channel,
                here=m.mentions.here,
            ),
            files=[File.of(f) for f in m.files],
            pinned=m.pinned,
            client_id=m.client_id,
            created_at=m.created_at,
            edited_at=m.edited_at,
            deleted_at=m.deleted_at,
            user_id=m.user.id,
        )


@strawberry.type
class Channel:
    id: strawberry.ID
    type: str
    name: str | None
    topic: str
    description: str
    read_only: bool
    archived: bool
    archived_at: datetime | None
    created_by: strawberry.ID | None
    is_member: bool
    channel_role: str | None
    member_count: int
    unread_count: int | None
    mention_count: int | None
    last_read_id: strawberry.ID | None
    last_message_at: datetime | None
    created_at: datetime
    dm_member_ids: list[strawberry.ID] | None

    @classmethod
    def of(cls, c: ChannelOut) -> Channel:
        return cls(
            id=_id(c.id),
            type=c.type,
            name=c.name,
            topic=c.topic,
            description=c.description,
            read_only=c.read_only,
            archived=c.archived,
            archived_at=c.archived_at,
            created_by=_id(c.created_by) if c.created_by else None,
            is_member=c.is_member,
            channel_role=c.channel_role,
            member_count=c.member_count,
            unread_count=c.unread_count,
            mention_count=c.mention_count,
            last_read_id=_id(c.last_read_id) if c.last_read_id else None,
            last_message_at=c.last_message_at,
            created_at=c.created_at,
            dm_member_ids=[_id(u.id) for u in c.dm_members] if c.dm_members is not None else None,
        )


@strawberry.type
class Thread:
    root: Message
    replies: list[Message]
    has_more: bool

    @classmethod
    def of(cls, t: ThreadOut) -> Thread:
        return cls(
            root=Message.of(t.root), replies=[Message.of(r) for r in t.replies], has_more=t.has_more
        )


@strawberry.type
class ReadState:
    channel_id: strawberry.ID
    last_read_id: strawberry.ID | None
    unread_count: int
    mention_count: int

    @classmethod
    def of(cls, r: ReadOut) -> ReadState:
        return cls(
            channel_id=_id(r.channel_id),
            last_read_id=_id(r.last_read_id) if r.last_read_id else None,
            unread_count=r.unread_count,
            mention_count=r.mention_count,
        )


def _id(value: uuid.UUID) -> strawberry.ID:
    return strawberry.ID(str(value))


@strawberry.type
class ChannelBrief:
    id: strawberry.ID
    name: str | None
    type: str


@strawberry.type
class SearchHit:
    message: Message
    channel: ChannelBrief
    highlight: str


@strawberry.type
class SearchPage:
    hits: list[SearchHit]
    next_cursor: str | None
    estimated_total: int
    total_capped: bool

    @classmethod
    def of(cls, r: SearchResults) -> SearchPage:
        return cls(
            hits=[
                SearchHit(
                    message=Message.of(h),
                    channel=ChannelBrief(
                        id=_id(h.channel.id), name=h.channel.name, type=h.channel.type
                    ),
                    highlight=h.highlight,
                )
                for h in r.messages
            ],
            next_cursor=r.next_cursor,
            estimated_total=r.estimated_total,
            total_capped=r.total_capped,
        )
