"""The users' events: user.updated carries the public profile."""

from __future__ import annotations

from nchat.realtime.events import register
from nchat.users.schemas import UserOut

USER_UPDATED = "user.updated"

register(UserOut, USER_UPDATED)
