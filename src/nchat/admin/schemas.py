from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

from nchat.admin.sections import (
    BrandingSection,
    FeaturesSection,
    FilesSection,
    JsonObject,
    MobileSection,
)
from nchat.storable import CleanModel, IsoTime, StrictModel


class ConfigOut(BaseModel):
    setup: JsonObject
    owner: JsonObject
    branding: JsonObject
    theme: JsonObject
    features: JsonObject
    integrations: JsonObject
    auth_providers: JsonObject
    mobile: JsonObject
    files: JsonObject


class ConfigPatch(StrictModel):
    """Sections to deep-merge, then checked whole (admin/sections.py); `setup` and `owner`
    are written by setup only."""

    branding: BrandingSection | None = None
    theme: JsonObject | None = None
    features: FeaturesSection | None = None
    integrations: JsonObject | None = None
    auth_providers: JsonObject | None = None
    mobile: MobileSection | None = None
    files: FilesSection | None = None


class AuditEntry(BaseModel):
    id: int
    actor_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    ip: str | None
    details: JsonObject
    created_at: datetime


class AuditList(BaseModel):
    entries: list[AuditEntry]
    next_cursor: str | None


class AuditFilters(CleanModel):
    """Which entries: all of these that are given. `action` ending in "." is a prefix
    ("channel." is every channel action); `since` is inclusive, `until` exclusive, and a
    time without a zone is UTC."""

    action: str | None = Field(default=None, min_length=1, max_length=100)
    actor_id: uuid.UUID | None = None
    target_type: str | None = Field(default=None, min_length=1, max_length=100)
    target: str | None = Field(default=None, min_length=1, max_length=200)
    since: IsoTime | None = None
    until: IsoTime | None = None

    @model_validator(mode="after")
    def _in_order(self) -> Self:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must be earlier than until")
        return self


class AuditQuery(AuditFilters):
    limit: int = Field(default=50, ge=1, le=200)
    # An audit id: a bigint, so larger numbers cannot name a row (and the driver refuses them).
    cursor: int | None = Field(default=None, ge=1, le=2**63 - 1)


class AuditExportQuery(AuditFilters):
    format: Literal["csv", "jsonl"] = "csv"
