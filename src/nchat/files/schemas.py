from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from nchat.storable import CleanModel

MAX_FILES_PER_MESSAGE = 10


class FileOut(BaseModel):
    """An uploaded file's record: the same in the upload's answer, on messages and in lists.
    The URLs are relative to the server; `thumbnail_url` and `preview_url` only for images
    that were decoded."""

    id: uuid.UUID
    name: str
    size: int
    content_type: str
    sha256: str
    width: int | None
    height: int | None
    url: str
    thumbnail_url: str | None
    preview_url: str | None
    created_at: datetime


class ChannelFile(FileOut):
    message_id: uuid.UUID
    uploader_id: uuid.UUID


class ChannelFileList(BaseModel):
    files: list[ChannelFile]
    next_cursor: str | None


class ChannelFilesQuery(CleanModel):
    before: uuid.UUID | None = None
    limit: int = Field(default=50, ge=1, le=200)
