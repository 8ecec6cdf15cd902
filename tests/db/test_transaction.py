"""The transaction boundary: what a transaction changed reaches its `after` once it commits,
never when it rolls back, and a connection not opened by it cannot record such changes."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.auth import session_cache
from nchat.db.transaction import Effects, transaction
from nchat.errors import NchatError
from nchat.realtime import log
from nchat.users.events import USER_UPDATED
from nchat.users.schemas import UserOut

USER = UserOut.model_validate(
    {
        "id": uuid.UUID(int=1),
        "username": "ada",
        "name": "Ada",
        "role": "member",
        "avatar_url": None,
        "timezone": None,
        "locale": None,
        "status_text": None,
        "is_active": True,
        "created_at": "2026-12-05T00:00:00Z",
        "deleted_at": None,
    }
)


async def test_committed_effects_reach_after_and_rolled_back_ones_do_not(
    engine: AsyncEngine, clean_db: None
) -> None:
    told: list[Effects] = []

    async def after(effects: Effects) -> None:
        told.append(effects)

    async with transaction(engine, after) as conn:
        await log.emit(conn, USER_UPDATED, USER, channel_id=None, actor_id=None)
        session_cache.changed(conn, USER.id)
    assert told == [Effects(events=True, users={USER.id})]

    with pytest.raises(NchatError):
        async with transaction(engine, after) as conn:
            await log.emit(conn, USER_UPDATED, USER, channel_id=None, actor_id=None)
            raise NchatError()
    assert len(told) == 1  # rolled back: nobody is told
    async with engine.connect() as conn:
        events = await conn.scalar(sa.text("SELECT count(*) FROM nchat_events"))
    assert events == 1

    async with transaction(engine, after):
        pass
    assert len(told) == 1  # nothing changed: nothing to tell


async def test_a_connection_not_opened_by_transaction_cannot_write_events(
    engine: AsyncEngine, clean_db: None
) -> None:
    async with engine.begin() as conn:
        with pytest.raises(RuntimeError, match="not opened by transaction"):
            await log.emit(conn, USER_UPDATED, USER, channel_id=None, actor_id=None)
        with pytest.raises(RuntimeError, match="not opened by transaction"):
            session_cache.changed(conn, USER.id)
        written = await conn.scalar(sa.text("SELECT count(*) FROM nchat_events"))
    assert written == 0  # refused before writing
