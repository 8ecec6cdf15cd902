from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

from nchat.files.schemas import FileOut
from nchat.messages.schemas import MessageOut
from nchat.search.query import MAX_QUERY
from nchat.storable import CleanModel


class SearchQuery(CleanModel):
    q: str = Field(min_length=1, max_length=MAX_QUERY)
    sort: Literal["recent", "relevance"] = "recent"
    limit: int = Field(default=20, ge=1, le=50)
    cursor: str | None = Field(default=None, max_length=512)


class ChannelBrief(BaseModel):
    id: uuid.UUID
    name: str | None
    type: str


class SearchHit(MessageOut):
    """A message as everywhere else, with its channel and the matched words marked: the
    text HTML-escaped, each match in <mark>...</mark>, long texts excerpted."""

    channel: ChannelBrief
    highlight: str


class SearchResults(BaseModel):
    messages: list[SearchHit]
    next_cursor: str | None
    # Matches up to 1,000 (`total_capped`: more): counted, or, when the newest messages
    # held a page, estimated from them.
    estimated_total: int
    total_capped: bool


class FileSearchQuery(CleanModel):
    q: str = Field(min_length=1, max_length=MAX_QUERY)
    limit: int = Field(default=20, ge=1, le=50)
    cursor: str | None = Field(default=None, max_length=512)


class FileHit(FileOut):
    uploader_id: uuid.UUID
    message_id: uuid.UUID | None
    channel_id: uuid.UUID | None


class FileSearchResults(BaseModel):
    files: list[FileHit]
    next_cursor: str | None
