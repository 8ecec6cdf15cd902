"""The maintenance row: present while maintenance mode is on (decision 0048)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.tables.maintenance import maintenance

# Serialises changes on every node and the CLI, so each on and off is seen (and announced)
# exactly once. Beside the migrations' and setup's keys.
MAINTENANCE_LOCK_KEY = 0x6E63686174_02
m = maintenance.c


@dataclass(frozen=True)
class Maintenance:
    """Maintenance mode while it is on."""

    message: str
    allow_admins: bool
    retry_after_s: int
    started_by: uuid.UUID | None
    started_at: datetime
    updated_at: datetime


def _of(row: RowMapping | None) -> Maintenance | None:
    if row is None:
        return None
    return Maintenance(
        message=row["message"],
        allow_admins=row["allow_admins"],
        retry_after_s=row["retry_after_s"],
        started_by=row["started_by"],
        started_at=row["started_at"],
        updated_at=row["updated_at"],
    )


async def lock(conn: AsyncConnection) -> None:
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MAINTENANCE_LOCK_KEY)))


async def current(conn: AsyncConnection) -> Maintenance | None:
    row = (await conn.execute(sa.select(maintenance).where(m.id == 1))).mappings().first()
    return _of(row)


async def put(
    conn: AsyncConnection,
    *,
    message: str,
    allow_admins: bool,
    retry_after_s: int,
    started_by: uuid.UUID | None,
) -> Maintenance:
    """On, or new terms while on (who started it, and when, stay)."""
    statement = insert(maintenance).values(
        id=1,
        message=message,
        allow_admins=allow_admins,
        retry_after_s=retry_after_s,
        started_by=started_by,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[m.id],
        set_={
            "message": statement.excluded.message,
            "allow_admins": statement.excluded.allow_admins,
            "retry_after_s": statement.excluded.retry_after_s,
            "updated_at": sa.func.now(),
        },
    )
    row = (await conn.execute(statement.returning(maintenance))).mappings().one()
    found = _of(row)
    assert found is not None
    return found


async def clear(conn: AsyncConnection) -> Maintenance | None:
    """Off; the state it was in, None if it was off already."""
    row = (await conn.execute(sa.delete(maintenance).returning(maintenance))).mappings().first()
    return _of(row)
