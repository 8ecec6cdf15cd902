"""Shared steps of the retention tests: policies through the admin API, messages aged in the
database (a client cannot send into the past), and what is left of them."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.factories import MadeUser

BASE = "/api/admin/retention"


def channel_path(channel_id: str) -> str:
    return f"/api/admin/channels/{channel_id}/retention"


async def set_global(
    client: httpx.AsyncClient, admin: MadeUser, days: int | None, **extra: Any
) -> dict[str, Any]:
    r = await client.put(BASE, headers=admin.headers, json={"message_days": days, **extra})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def set_channel(
    client: httpx.AsyncClient, admin: MadeUser, channel_id: str, days: int | None, **extra: Any
) -> dict[str, Any]:
    r = await client.put(
        channel_path(channel_id), headers=admin.headers, json={"message_days": days, **extra}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def dry_run(client: httpx.AsyncClient, admin: MadeUser) -> dict[str, Any]:
    r = await client.post(f"{BASE}/dry-run", headers=admin.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def age(engine: AsyncEngine, message_ids: list[str], days: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE nchat_messages SET created_at = now() - make_interval(days => :d) "
                "WHERE id::text = ANY(:ids)"
            ),
            {"d": days, "ids": message_ids},
        )


async def remaining(engine: AsyncEngine, message_ids: list[str]) -> set[str]:
    async with engine.connect() as conn:
        found = await conn.scalars(
            sa.text("SELECT id::text FROM nchat_messages WHERE id::text = ANY(:ids)"),
            {"ids": message_ids},
        )
    return set(found)


async def scalar(engine: AsyncEngine, query: str, **params: Any) -> Any:
    async with engine.connect() as conn:
        return await conn.scalar(sa.text(query), params)


def by_channel(counts: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {c["channel_id"]: (c["messages"], c["files"]) for c in counts["channels"]}
