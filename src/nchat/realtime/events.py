"""The event envelope clients receive, and the registry of each event type's `data` model.

The models themselves belong to the packages that emit the events (`channels/events.py`,
`messages/events.py`, `users/events.py`): the log carries whatever typed data it is given."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

# Every event type's `data` model, registered by the package that emits it (its
# `events.py`): the log checks each emitted event against it, tests check deliveries.
EVENT_DATA: dict[str, type[BaseModel]] = {}


def register(model: type[BaseModel], *types: str) -> None:
    for type_ in types:
        known = EVENT_DATA.setdefault(type_, model)
        assert known is model, f"{type_} already carries {known.__name__}"


class EventOut(BaseModel):
    """One event as sockets and /api/sync/changes deliver it; `id` is the cursor after it."""

    id: str
    type: str
    channel_id: uuid.UUID | None
    data: dict[str, Any]
    created_at: datetime


class ChangesOut(BaseModel):
    events: list[EventOut]
    cursor: str
    has_more: bool
