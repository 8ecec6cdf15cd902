"""Small helpers for messaging tests: the API ones go through HTTP like a client would."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.factories import MadeUser


class Api:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def create_channel(
        self,
        user: MadeUser,
        name: str,
        *,
        type_: str = "public",
        members: tuple[MadeUser, ...] = (),
        **extra: Any,
    ) -> dict[str, Any]:
        r = await self.client.post(
            "/api/channels",
            headers=user.headers,
            json={"name": name, "type": type_, "member_ids": [str(m.id) for m in members], **extra},
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    async def send(
        self, user: MadeUser, channel_id: str, text: str, **extra: Any
    ) -> dict[str, Any]:
        r = await self.client.post(
            "/api/messages",
            headers=user.headers,
            json={"channel_id": channel_id, "text": text, **extra},
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    async def channel(self, user: MadeUser, channel_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/api/channels/{channel_id}", headers=user.headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def history(self, user: MadeUser, channel_id: str, **params: Any) -> dict[str, Any]:
        r = await self.client.get(
            f"/api/channels/{channel_id}/messages", headers=user.headers, params=params
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body


KILL = sa.text("SELECT pg_terminate_backend(:pid)")
STILL_THERE = sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")


async def kill_session(engine: AsyncEngine, pid: int) -> None:
    """Terminates one session and waits until it is gone (a busy server may take a moment
    to end it)."""
    async with engine.connect() as conn:
        # A statement per transaction: pg_stat_activity is read once per transaction.
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        assert await conn.scalar(KILL, {"pid": pid})
        for _ in range(200):
            if not await conn.scalar(STILL_THERE, {"pid": pid}):
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"session {pid} did not end")
