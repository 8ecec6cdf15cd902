from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
)

from nchat.storable import CleanModel, StrictModel

USERNAME_RE = r"^[a-z0-9][a-z0-9._-]{1,31}$"
Role = Literal["owner", "admin", "moderator", "member", "guest"]


def _fold(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


# Folded before the pattern is checked: "Alice" signs up as "alice".
Username = Annotated[
    str,
    BeforeValidator(_fold),
    StringConstraints(min_length=2, max_length=32, pattern=USERNAME_RE),
]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
Email = Annotated[EmailStr, StringConstraints(max_length=254)]


def _check_timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("unknown time zone") from exc
    return value


def _check_url(value: str | None) -> str | None:
    if value is not None and value != "" and not re.match(r"^https?://\S+$", value):
        raise ValueError("must be an http(s) URL")
    return value or None


Timezone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_check_timezone)]
Locale = Annotated[
    str, StringConstraints(pattern=r"^[a-zA-Z]{2,3}([-_][a-zA-Z0-9]{2,8})*$", max_length=35)
]
AvatarUrl = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_check_url)]
StatusText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=140)]


class UserOut(BaseModel):
    id: uuid.UUID
    username: str
    name: str
    email: str | None = None
    role: Role
    avatar_url: str | None
    timezone: str | None
    locale: str | None
    status_text: str | None
    is_active: bool
    created_at: datetime
    deleted_at: datetime | None


class UserList(BaseModel):
    users: list[UserOut]
    next_cursor: str | None


class UserUpdate(StrictModel):
    display_name: DisplayName | None = None
    avatar_url: AvatarUrl | None = None
    timezone: Timezone | None = None
    locale: Locale | None = None
    status_text: StatusText | None = None
    role: Role | None = None
    # Strict: 0, 1 or "yes" in a JSON body is a mistake to refuse, not a value to guess.
    is_active: StrictBool | None = None


class UserCreate(StrictModel):
    email: Email
    username: Username
    password: Password
    display_name: DisplayName | None = None
    role: Role = "member"


class PasswordChange(StrictModel):
    current_password: Password
    new_password: Password


class ListQuery(CleanModel):
    q: str | None = Field(default=None, max_length=100)
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)
