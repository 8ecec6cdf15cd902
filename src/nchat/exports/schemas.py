from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel

ExportStatus = Literal["pending", "running", "ready", "failed", "downloaded", "expired"]


class ExportOut(BaseModel):
    """An export of one person's data. `download_url` while it is ready: it works once."""

    id: uuid.UUID
    user_id: uuid.UUID
    status: ExportStatus
    size: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None
    downloaded_at: datetime | None
    download_url: str | None
