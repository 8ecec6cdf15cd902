from __future__ import annotations

from pydantic import BaseModel, Field

from nchat.storable import StrictModel
from nchat.users.schemas import DisplayName, Email, Password, Username


class OwnerIn(StrictModel):
    email: Email
    username: Username
    password: Password
    display_name: DisplayName


class SetupIn(StrictModel):
    owner: OwnerIn
    app_name: str | None = Field(default=None, min_length=1, max_length=80)


class SetupStatus(BaseModel):
    completed: bool
