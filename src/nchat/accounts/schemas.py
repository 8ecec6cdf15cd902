from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from nchat.storable import StrictModel
from nchat.users.schemas import DisplayName, Email, Password, Username, UserOut


class SignupIn(StrictModel):
    email: Email
    username: Username
    password: Password
    display_name: DisplayName | None = None


class SigninIn(StrictModel):
    login: str = Field(min_length=1, max_length=254)
    password: Password


class RefreshIn(StrictModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int
    user: UserOut


class SessionOut(BaseModel):
    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip: str | None
    current: bool


class SessionList(BaseModel):
    sessions: list[SessionOut]
