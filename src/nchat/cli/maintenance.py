"""`nchat maintenance on|off|status`: pause every write on every node (an upgrade's first
step), resume them, and say which it is."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import asyncpg
import typer
from pydantic import ValidationError
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.cli.common import console, database_url, err_console, fail, operator_errors
from nchat.config import Settings
from nchat.db.engine import create_engine
from nchat.db.transaction import Effects, transaction
from nchat.maintenance import service
from nchat.maintenance.repository import Maintenance
from nchat.maintenance.schemas import DEFAULT_MESSAGE, DEFAULT_RETRY_AFTER_S, MaintenanceIn
from nchat.maintenance.view import REFRESH_S, SIGNAL
from nchat.realtime.redis_bus import publish_once
from nchat.realtime.topics import EPHEMERAL, EVENTS

app = typer.Typer(
    help="Maintenance mode: writes answer 503 on every node, reads go on.", no_args_is_help=True
)

T = TypeVar("T")
EXIT_INVALID = 2


def _run(settings: Settings, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """`work` in one transaction; after its commit, the running servers are told."""

    async def runner(url: str) -> T:
        engine = create_engine(url, pool_size=1)
        try:
            async with transaction(engine, _ignore) as conn:
                result = await work(conn)
        finally:
            await engine.dispose()
        await _announce(url, settings)
        return result

    with operator_errors(), database_url(settings) as url:
        return asyncio.run(runner(url))


async def _ignore(_: Effects) -> None:
    """The servers are told of every change after commit (`_announce`)."""


async def _announce(url: str, settings: Settings) -> None:
    """As a server tells the others: its sockets hear the event, its requests the new state."""
    try:
        for topic, payload in ((EVENTS, ""), (EPHEMERAL, SIGNAL)):
            await publish_once(
                database_url=url,
                redis_url=settings.redis_url,
                redis_prefix=settings.redis_prefix,
                topic=topic,
                payload=payload,
            )
    except (RedisError, OSError, asyncpg.PostgresError) as exc:
        err_console.print(
            f"Warning: running servers were not told ({exc}); they notice within {REFRESH_S:.0f} s",
            soft_wrap=True,
        )


def _describe(state: Maintenance | None) -> str:
    if state is None:
        return "Maintenance mode is off."
    who = "owners and admins may still write" if state.allow_admins else "nobody may write"
    return (
        f"Maintenance mode is on since {state.started_at.isoformat(timespec='seconds')}: "
        f"{state.message}\nWrites answer 503 (Retry-After: {state.retry_after_s}); {who}."
    )


@app.command()
def on(
    message: Annotated[str, typer.Option(help="What clients are told")] = DEFAULT_MESSAGE,
    allow_admins: Annotated[
        bool, typer.Option("--allow-admins", help="Owners and admins may still write")
    ] = False,
    retry_after: Annotated[
        int, typer.Option(help="Seconds clients are asked to wait (Retry-After)")
    ] = DEFAULT_RETRY_AFTER_S,
) -> None:
    """Turn maintenance mode on (or change its message and terms while it is on)."""
    try:
        wanted = MaintenanceIn(
            message=message, allow_admins=allow_admins, retry_after_s=retry_after
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise fail(f"Invalid {where}: {first['msg']}", EXIT_INVALID) from exc

    async def work(conn: AsyncConnection) -> Maintenance:
        return await service.do_enable(
            conn,
            actor_id=None,
            message=wanted.message,
            allow_admins=wanted.allow_admins,
            retry_after_s=wanted.retry_after_s,
            via="cli",
        )

    console.print(_describe(_run(Settings(), work)), soft_wrap=True, markup=False)


@app.command()
def off() -> None:
    """Turn maintenance mode off: writes are taken again."""

    async def work(conn: AsyncConnection) -> Maintenance | None:
        return await service.do_disable(conn, actor_id=None, via="cli")

    ended = _run(Settings(), work)
    console.print("Maintenance mode is off." if ended else "Maintenance mode was off already.")


@app.command()
def status() -> None:
    """Say whether maintenance mode is on, since when, and with which message."""
    settings = Settings()
    with operator_errors(), database_url(settings) as url:

        async def read() -> Maintenance | None:
            engine = create_engine(url, pool_size=1)
            try:
                async with engine.connect() as conn:
                    return await service.current(conn)
            finally:
                await engine.dispose()

        state = asyncio.run(read())
    console.print(_describe(state), soft_wrap=True, markup=False)
