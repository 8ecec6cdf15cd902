"""Maintenance mode as the API, the CLI and the event log carry it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, StrictBool, StrictInt

from nchat.storable import StrictModel

DEFAULT_MESSAGE = "nchat is under maintenance: reading works, changes are paused for a moment."
DEFAULT_RETRY_AFTER_S = 120
MAX_MESSAGE = 500
MAX_RETRY_AFTER_S = 86_400


class MaintenanceIn(StrictModel):
    """PUT /api/admin/maintenance: turn it on, or change its message and terms while on."""

    message: str = Field(default=DEFAULT_MESSAGE, min_length=1, max_length=MAX_MESSAGE)
    allow_admins: StrictBool = False
    retry_after_s: StrictInt = Field(default=DEFAULT_RETRY_AFTER_S, ge=1, le=MAX_RETRY_AFTER_S)


class MaintenanceOut(BaseModel):
    """The state: `enabled` false and the rest null while it is off."""

    enabled: bool
    message: str | None = None
    allow_admins: bool | None = None
    retry_after_s: int | None = None
    started_by: str | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None


class MaintenanceData(BaseModel):
    """The data of maintenance.started, maintenance.updated and maintenance.ended (each
    carries the state after the change: a client applies it as it comes)."""

    enabled: bool
    message: str | None = None
    allow_admins: bool | None = None
    retry_after_s: int | None = None
    started_at: datetime | None = None
