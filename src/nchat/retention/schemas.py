"""Retention policies as the admin API takes and shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt

from nchat.storable import StrictModel
from nchat.tables.retention import MAX_DAYS, MIN_DAYS


class Policy(StrictModel):
    """`message_days` null keeps messages forever; it must be given, so leaving it out never
    means forever by accident. Strict: 0 or "30" is refused, not read as a bool or a number."""

    message_days: StrictInt | None = Field(ge=MIN_DAYS, le=MAX_DAYS)
    # Pinned messages are kept past the limit unless this is set.
    include_pinned: StrictBool = False


class GlobalPolicyOut(Policy):
    updated_at: datetime | None = None
    updated_by: uuid.UUID | None = None


class ChannelPolicyOut(BaseModel):
    channel_id: uuid.UUID
    # The channel's own policy; null when the workspace's applies.
    override: GlobalPolicyOut | None
    effective: Policy
    source: Literal["channel", "workspace"]


class ChannelCounts(BaseModel):
    channel_id: uuid.UUID
    name: str | None
    message_days: int | None
    include_pinned: bool
    messages: int
    files: int


class RunCounts(BaseModel):
    """What a run deletes (or, dry, would delete now): per channel, and in all."""

    dry_run: bool
    messages: int
    files: int
    # The channels with something to delete, most messages first, at most MAX_LISTED.
    channels: list[ChannelCounts]
    more_channels: bool
