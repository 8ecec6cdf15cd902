"""`history`: 50-message pages and the 500-channel list with unread counts, on a big database.

Requests go through the whole application in-process (auth, permission checks, SQL, JSON).
The time is taken around the ASGI call itself, so it is the server's latency, without the
network or the client's own cost. The list is measured twice: with nothing written between
two lists, and with WRITES_BETWEEN_LISTS messages written (untimed, as another node would)
into random channels before each one, so the list's copy of recent messages must catch up."""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from starlette.types import ASGIApp, Receive, Scope, Send

from bench import seed
from bench.common import fresh_database, percentiles, write_results
from nchat.app import create_app
from nchat.config import Settings
from nchat.db.engine import libpq_url
from nchat.db.ids import uuid7

PASSWORD = "bench password"
SCENARIOS = (
    "history_latest_50",
    "history_before_50",
    "channel_list_500",
    "channel_list_500_after_writes",
)
LISTS = ("channel_list_500", "channel_list_500_after_writes")
WRITES_BETWEEN_LISTS = 10
console = Console()

USER1_CHANNELS = """
SELECT m.channel_id FROM nchat_channel_members m JOIN nchat_users u ON u.id = m.user_id
WHERE u.username = 'user1'
"""
SAMPLE_MESSAGES = "SELECT id FROM nchat_messages TABLESAMPLE SYSTEM (1) LIMIT 500"
ALL_CHANNELS = "SELECT id FROM nchat_channels"
OTHER_USERS = "SELECT id FROM nchat_users WHERE username <> 'user1'"
# One message per statement, as sends are; the triggers record the change as for any writer.
INSERT_MESSAGE = """
INSERT INTO nchat_messages (id, channel_id, user_id, text)
VALUES ($1, $2, $3, 'written between lists')
"""


class Timed:
    """ASGI wrapper that records how long the application took for each request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        await self.app(scope, receive, send)
        self.last_ms = (time.perf_counter() - start) * 1000


Call = Callable[[], Awaitable[httpx.Response]]


def _calls(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    channel_ids: list[str],
    middle: list[str],
    write: Callable[[], Awaitable[None]],
) -> dict[str, Call]:
    def latest() -> Awaitable[httpx.Response]:
        return client.get(
            f"/api/channels/{random.choice(channel_ids)}/messages",
            params={"limit": 50},
            headers=headers,
        )

    def before() -> Awaitable[httpx.Response]:
        return client.get(
            f"/api/channels/{random.choice(channel_ids)}/messages",
            params={"limit": 50, "before": random.choice(middle)},
            headers=headers,
        )

    def channel_list() -> Awaitable[httpx.Response]:
        return client.get(
            "/api/channels", params={"member": "true", "limit": 1000}, headers=headers
        )

    async def after_writes() -> httpx.Response:
        await write()
        return await channel_list()

    return dict(zip(SCENARIOS, (latest, before, channel_list, after_writes), strict=True))


def _writer(
    conn: asyncpg.Connection, channels: list[Any], users: list[Any]
) -> Callable[[], Awaitable[None]]:
    async def write() -> None:
        for _ in range(WRITES_BETWEEN_LISTS):
            await conn.execute(
                INSERT_MESSAGE, uuid7(), random.choice(channels), random.choice(users)
            )

    return write


async def _sample(timed: Timed, call: Call, n: int, progress: Progress, name: str) -> list[float]:
    task = progress.add_task(name, total=n)
    for _ in range(20):  # warm caches and the pool
        await call()
    timings = []
    for _ in range(n):
        resp = await call()
        assert resp.status_code == 200, resp.text
        timings.append(timed.last_ms)
        progress.advance(task)
    return timings


async def _measure(url: str, samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            Settings(database_url=url, data_dir=Path(tmp), secret_key="b" * 48, log_level="error")
        )
        timed = Timed(app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=timed), base_url="http://bench"
            ) as client,
        ):
            r = await client.post("/api/auth/signin", json={"login": "user1", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            async with app.state.engine.connect() as conn:
                version = await conn.scalar(sa.text("SHOW server_version"))
                channel_ids = [
                    str(c) for c in (await conn.execute(sa.text(USER1_CHANNELS))).scalars()
                ]
                middle = [str(m) for m in (await conn.execute(sa.text(SAMPLE_MESSAGES))).scalars()]
            writer = await asyncpg.connect(libpq_url(url))
            try:
                write = _writer(
                    writer,
                    [r[0] for r in await writer.fetch(ALL_CHANNELS)],
                    [r[0] for r in await writer.fetch(OTHER_USERS)],
                )
                calls = _calls(client, headers, channel_ids, middle, write)
                results: dict[str, Any] = {"server_version": version}
                with Progress(console=console, transient=True) as progress:
                    for name, call in calls.items():
                        n = samples if name not in LISTS else max(50, samples // 4)
                        results[name] = percentiles(await _sample(timed, call, n, progress, name))
                        if name == "channel_list_500":  # before any message is written
                            listed = (await call()).json()["channels"]
            finally:
                await writer.close()
    results["channels_listed"] = len(listed)
    results["unread_total"] = sum(c["unread_count"] or 0 for c in listed)
    results["writes_between_lists"] = WRITES_BETWEEN_LISTS
    return results


def main(args: argparse.Namespace) -> int:
    size = seed.QUICK if args.quick else seed.FULL
    samples = 200 if args.quick else 2000
    with fresh_database(args.database_url) as url:
        console.print(
            f"seeding {size.messages:,} messages in {size.channels:,} channels "
            f"for {size.users:,} users ..."
        )
        start = time.perf_counter()
        asyncio.run(seed.seed(url, size, PASSWORD))
        seeded_s = time.perf_counter() - start
        console.print(f"seeded in {seeded_s:.1f} s")
        results = asyncio.run(_measure(url, samples))
    results["size"] = size.__dict__
    results["seed_seconds"] = round(seeded_s, 1)
    table = Table("request (server-side)", "n", "p50 ms", "p90 ms", "p99 ms", "max ms")
    for name in SCENARIOS:
        r = results[name]
        table.add_row(name, *(str(r[k]) for k in ("n", "p50_ms", "p90_ms", "p99_ms", "max_ms")))
    console.print(table)
    console.print(
        f"channels listed: {results['channels_listed']}, unread total: "
        f"{results['unread_total']}, PostgreSQL {results['server_version']}"
    )
    console.print(f"results written to {write_results('history', results, args.output)}")
    return 0
