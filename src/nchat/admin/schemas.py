from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from nchat.admin.sections import (
    BrandingSection,
    FeaturesSection,
    FilesSection,
    JsonObject,
    MobileSection,
)
from nchat.storable import CleanModel, StrictModel


class ConfigOut(BaseModel):
    setup: JsonObject
    owner: JsonObject
    branding: JsonObject
    theme: JsonObject
    features: JsonObject
    integrations: JsonObject
    mobile: JsonObject
    files: JsonObject


class ConfigPatch(StrictModel):
    """Sections to deep-merge; `setup` and `owner` are written by setup only."""

    branding: BrandingSection | None = None
    theme: JsonObject | None = None
    features: FeaturesSection | None = None
    integrations: JsonObject | None = None
    mobile: MobileSection | None = None
    files: FilesSection | None = None


class PublicConfig(BaseModel):
    app_name: str
    signup_open: bool
    setup_completed: bool
    theme: JsonObject
    file_uploads: bool
    max_upload_bytes: int


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


class AuditQuery(CleanModel):
    limit: int = Field(default=50, ge=1, le=200)
    # An audit id: a bigint, so larger numbers cannot name a row (and the driver refuses them).
    cursor: int | None = Field(default=None, ge=1, le=2**63 - 1)
