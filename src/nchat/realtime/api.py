from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from nchat.auth.deps import CurrentUser
from nchat.db.engine import Conn
from nchat.errors import ValidationFailed
from nchat.realtime import presence
from nchat.realtime.presence import PresenceList, PresenceQuery

router = APIRouter(prefix="/api", tags=["realtime"])
MAX_USERS = 200


@router.get("/presence")
async def get_presence(
    principal: CurrentUser, conn: Conn, query: Annotated[PresenceQuery, Query()]
) -> PresenceList:
    """`?user_ids=a,b,c`: each user's status across their devices."""
    try:
        ids = list(dict.fromkeys(uuid.UUID(part) for part in query.user_ids.split(",")))
    except ValueError as exc:
        raise ValidationFailed("user_ids must be comma-separated ids", code="invalid_id") from exc
    if len(ids) > MAX_USERS:
        raise ValidationFailed(f"At most {MAX_USERS} users at once", code="too_many_ids")
    return PresenceList(presence=await presence.status_of(conn, ids))
