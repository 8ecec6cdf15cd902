from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, model_validator

from nchat.files.schemas import MAX_FILES_PER_MESSAGE, FileOut
from nchat.storable import CleanModel, StrictModel

MAX_TEXT = 40_000


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("text must not be blank")
    return value


Text = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TEXT), AfterValidator(_not_blank)
]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


def _check_emoji(value: str) -> str:
    # Format characters (Cf) stay allowed: zero-width joiners build family and flag emoji.
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in value):
        raise ValueError("an emoji has no spaces or control characters")
    return value


Emoji = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_check_emoji)]


class MessageCreate(StrictModel):
    channel_id: uuid.UUID
    # May be empty when files are attached: a message can be just a file.
    text: Annotated[str, StringConstraints(max_length=MAX_TEXT)] = ""
    thread_id: uuid.UUID | None = None
    client_id: ClientId | None = None
    # Uploads of the sender's not attached to any message yet (POST /api/files).
    file_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_FILES_PER_MESSAGE)

    @model_validator(mode="after")
    def _says_something(self) -> MessageCreate:
        if not self.file_ids:
            _not_blank(self.text)
        return self


class MessageEdit(StrictModel):
    text: Text


class ReactionIn(StrictModel):
    emoji: Emoji


class ReadIn(StrictModel):
    message_id: uuid.UUID


class HistoryQuery(CleanModel):
    before: uuid.UUID | None = None
    after: uuid.UUID | None = None
    around: uuid.UUID | None = None
    limit: int = Field(default=50, ge=1, le=200)


class PageQuery(CleanModel):
    before: uuid.UUID | None = None
    limit: int = Field(default=50, ge=1, le=200)


class SavedQuery(CleanModel):
    # The page after the one whose next_cursor this is (saved time and message id).
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=50, ge=1, le=200)


class ThreadQuery(CleanModel):
    after: uuid.UUID | None = None
    limit: int = Field(default=100, ge=1, le=200)


class DeleteQuery(CleanModel):
    hard: bool = False


class UserBrief(BaseModel):
    id: uuid.UUID
    username: str
    name: str


class ReactionOut(BaseModel):
    emoji: str
    count: int
    me: bool


class Mentions(BaseModel):
    user_ids: list[uuid.UUID] = Field(default_factory=list)
    channel: bool = False
    here: bool = False


class MessageOut(BaseModel):
    id: uuid.UUID
    channel_id: uuid.UUID
    user: UserBrief
    # None once deleted: a deleted message stays in history as a placeholder without text.
    text: str | None
    html: str | None = Field(
        description="The text as sanitised HTML, rendered by the server (Markdown, mentions, "
        "#channels, :emoji:): block elements from a small allow-list of tags (a plain text is "
        "one <p>); links only to http(s) and mailto, opening in a new tab; users and channels "
        'as <span class="mention" data-user-id> and <span class="channel" data-channel-id>. '
        "Clients show it as it is. None once deleted, like the text."
    )
    thread_id: uuid.UUID | None
    reply_count: int
    last_reply_at: datetime | None
    participants: list[uuid.UUID]
    reactions: list[ReactionOut]
    mentions: Mentions
    files: list[FileOut]
    pinned: bool
    client_id: str | None
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None


class MessageList(BaseModel):
    messages: list[MessageOut]
    has_more: bool


class SavedList(MessageList):
    """Saved messages, newest saved first; `next_cursor` asks for the page after."""

    next_cursor: str | None


class ThreadOut(BaseModel):
    root: MessageOut
    replies: list[MessageOut]
    has_more: bool


class Version(BaseModel):
    text: str
    at: datetime


class HistoryOut(BaseModel):
    """Every version of the text, oldest first; the last is the current text."""

    versions: list[Version]


class ReadOut(BaseModel):
    channel_id: uuid.UUID
    last_read_id: uuid.UUID | None
    unread_count: int
    mention_count: int
