from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from nchat.auth.deps import CurrentUser
from nchat.db.transaction import Conn
from nchat.realtime import presence
from nchat.realtime.presence import PresenceList, PresenceQuery

router = APIRouter(prefix="/api", tags=["realtime"])


@router.get("/presence")
async def get_presence(
    principal: CurrentUser, conn: Conn, query: Annotated[PresenceQuery, Query()]
) -> PresenceList:
    """`?user_ids=a,b,c`: each user's status across their devices."""
    ids = presence.user_ids_from(list(query.user_ids.split(",")))
    return PresenceList(presence=await presence.status_of(conn, ids))
