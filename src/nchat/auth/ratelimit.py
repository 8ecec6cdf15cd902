"""Login rate limits per account and per client address, kept in PostgreSQL so every worker
and node shares them."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.auth.models import login_failures
from nchat.config import Settings
from nchat.errors import TooManyRequests


async def check_login_allowed(
    conn: AsyncConnection, *, account: str, ip: str, settings: Settings
) -> None:
    window_start = datetime.now(UTC) - timedelta(seconds=settings.login_window_s)
    for column, key, limit in (
        (login_failures.c.account, account, settings.login_max_failures),
        (login_failures.c.ip, ip, settings.login_ip_max_failures),
    ):
        recent = (
            sa.select(login_failures.c.created_at)
            .where(column == key, login_failures.c.created_at > window_start)
            .order_by(login_failures.c.created_at.desc())
            .limit(limit)
            .subquery()
        )
        row = (
            await conn.execute(sa.select(sa.func.count(), sa.func.min(recent.c.created_at)))
        ).one()
        count, oldest = int(row[0]), row[1]
        if count >= limit and oldest is not None:
            # Allowed again once the oldest of the last `limit` failures leaves the window.
            wait = (oldest - window_start).total_seconds()
            raise TooManyRequests(max(1, math.ceil(wait)), "Too many failed sign-in attempts")


async def record_failure(conn: AsyncConnection, *, account: str, ip: str) -> None:
    await conn.execute(sa.insert(login_failures).values(account=account, ip=ip))


async def clear_account_failures(conn: AsyncConnection, *, account: str) -> None:
    await conn.execute(sa.delete(login_failures).where(login_failures.c.account == account))


async def prune(conn: AsyncConnection, *, older_than_s: int) -> None:
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    await conn.execute(sa.delete(login_failures).where(login_failures.c.created_at < cutoff))
