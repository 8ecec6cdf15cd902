"""Requests and answers of the admin's user management and statistics."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from nchat.storable import CleanModel, IsoTime, StrictModel
from nchat.users.schemas import Password, Role

MAX_PAGE = 200


class AdminUserQuery(CleanModel):
    role: Role | None = None
    active: bool | None = None
    # Last seen: the latest use of any of the user's sessions or sockets. A user never seen
    # counts as seen before every time, and after none.
    seen_before: IsoTime | None = None
    seen_after: IsoTime | None = None
    q: str | None = Field(default=None, min_length=1, max_length=100)
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(default=None, max_length=200)


class AdminUserOut(BaseModel):
    id: uuid.UUID
    username: str
    name: str
    email: str
    role: Role
    is_active: bool
    created_at: datetime
    last_seen_at: datetime | None
    session_count: int  # live sessions: neither revoked nor expired


class AdminUserList(BaseModel):
    users: list[AdminUserOut]
    next_cursor: str | None


class RoleChange(StrictModel):
    role: Role


class SessionsRevoked(BaseModel):
    sessions_ended: int


class ResetPasswordIn(StrictModel):
    # Default: by email when the server can send mail, else a temporary password.
    method: Literal["email", "temporary_password"] | None = None


class ResetPasswordOut(BaseModel):
    method: Literal["email", "temporary_password"]
    # Shown once, to the admin who asked; the user should change it after signing in.
    temporary_password: str | None = None
    # When the emailed link stops working.
    expires_at: datetime | None = None
    sessions_ended: int


class PasswordResetComplete(StrictModel):
    token: str = Field(min_length=1, max_length=1024)
    new_password: Password


class UserCounts(BaseModel):
    total: int  # not deleted
    active: int  # of those, not deactivated
    active_1d: int  # seen within the last day
    active_7d: int
    active_30d: int


class DayCount(BaseModel):
    date: date  # a UTC day
    count: int


class StorageUse(BaseModel):
    files_bytes: int  # uploads as stored (thumbnails and previews are not counted)
    files: int


class SocketCounts(BaseModel):
    open: int  # on every node, from presence rows the sockets keep fresh
    users_online: int
    this_process: int  # sockets and subscriptions served by the process that answered


class StatsOut(BaseModel):
    users: UserCounts
    messages_per_day: list[DayCount]  # the last 30 UTC days, oldest first, today included
    storage: StorageUse
    sockets: SocketCounts
