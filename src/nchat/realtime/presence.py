"""Presence per user across devices: one row per socket, the freshest rows decide.

A user is `dnd` if any fresh socket says so, else `online` if any is online, else `away` if
any is away, else `offline` (no socket seen within PRESENCE_TTL_S: a crashed node's rows
simply go stale)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.realtime.models import presence
from nchat.users.schemas import CleanModel

PRESENCE_TTL_S = 60
STATUSES = ("online", "away", "dnd")
p = presence.c


class PresenceOut(BaseModel):
    user_id: uuid.UUID
    status: str
    last_seen: datetime | None


class PresenceList(BaseModel):
    presence: list[PresenceOut]


class PresenceQuery(CleanModel):
    user_ids: str = Field(min_length=1, max_length=200 * 37)


def _fresh() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=PRESENCE_TTL_S)


async def lock_user(conn: AsyncConnection, user_id: uuid.UUID) -> None:
    """Serialise one user's presence changes (all their devices, every node), so that each
    change of their status is seen, and announced, exactly once."""
    key = sa.func.hashtextextended(str(user_id), 0)
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


async def upsert(
    conn: AsyncConnection, connection_id: uuid.UUID, user_id: uuid.UUID, status: str | None
) -> None:
    """Mark the socket seen now (and set its status when given)."""
    values = {
        "connection_id": connection_id,
        "user_id": user_id,
        "status": status or "online",
        "last_seen": sa.func.now(),
    }
    update: dict[str, object] = {"last_seen": sa.func.now()}
    if status is not None:
        update["status"] = status
    await conn.execute(
        pg_insert(presence)
        .values(**values)
        .on_conflict_do_update(index_elements=["connection_id"], set_=update)
    )


async def remove(conn: AsyncConnection, connection_id: uuid.UUID) -> None:
    await conn.execute(sa.delete(presence).where(p.connection_id == connection_id))


async def status_of(conn: AsyncConnection, user_ids: list[uuid.UUID]) -> list[PresenceOut]:
    rows = (
        await conn.execute(
            sa.select(p.user_id, sa.func.array_agg(p.status), sa.func.max(p.last_seen))
            .where(p.user_id.in_(user_ids), p.last_seen > _fresh())
            .group_by(p.user_id)
        )
    ).all()
    found = {user_id: (set(statuses), seen) for user_id, statuses, seen in rows}
    out = []
    for user_id in user_ids:
        statuses, seen = found.get(user_id, (set(), None))
        status = next((s for s in ("dnd", "online", "away") if s in statuses), "offline")
        out.append(PresenceOut(user_id=user_id, status=status, last_seen=seen))
    return out


async def prune(conn: AsyncConnection) -> None:
    stale = datetime.now(UTC) - timedelta(hours=1)
    await conn.execute(sa.delete(presence).where(p.last_seen < stale))
