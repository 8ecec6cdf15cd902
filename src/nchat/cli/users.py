"""`nchat user create|set-password` for operators."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
import sqlalchemy as sa
import typer
from pydantic import TypeAdapter, ValidationError
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.admin.service import audit, update_config
from nchat.auth import session_cache
from nchat.auth.passwords import hash_password
from nchat.cli.common import console, database_url, err_console, fail, operator_errors
from nchat.config import Settings
from nchat.db.engine import create_engine
from nchat.db.transaction import Effects, transaction
from nchat.errors import NchatError, ValidationFailed
from nchat.realtime.redis_bus import publish_once
from nchat.realtime.topics import EPHEMERAL, EVENTS
from nchat.setup.service import SETUP_LOCK_KEY, is_completed
from nchat.users import repository
from nchat.users.schemas import DisplayName, Email, Password, Role, Username
from nchat.users.service import check_password_strength, do_create_user

app = typer.Typer(help="Manage users from the shell.", no_args_is_help=True)

Work = Callable[[AsyncConnection], Awaitable[None]]

# Exit codes: 1 the command could not be done (taken, not found, database down),
# 2 the input is invalid.
EXIT_FAILED = 1
EXIT_INVALID = 2


def _run(url: str, work: Work, settings: Settings) -> None:
    async def runner() -> None:
        engine = create_engine(url, pool_size=1)
        try:
            async with transaction(engine, functools.partial(_announce, url, settings)) as conn:
                await work(conn)
        finally:
            await engine.dispose()

    try:
        asyncio.run(runner())
    except NchatError as exc:
        raise fail(f"Error: {exc.message} ({exc.code})", EXIT_FAILED) from exc


async def _announce(url: str, settings: Settings, effects: Effects) -> None:
    """Tell running servers what the command committed, as a server tells the others: new
    events wake their hubs, and changed users' open sockets and subscriptions close now
    rather than at the servers' next sweep."""
    messages = [(EVENTS, "")] if effects.events else []
    if effects.users:
        messages.append((EPHEMERAL, session_cache.signal(effects.users)))
    try:
        for topic, payload in messages:
            await publish_once(
                database_url=url,
                redis_url=settings.redis_url,
                redis_prefix=settings.redis_prefix,
                topic=topic,
                payload=payload,
            )
    except (RedisError, OSError, asyncpg.PostgresError) as exc:
        err_console.print(
            f"Warning: running servers were not told ({exc}); "
            "their open sockets of these users close within a minute",
            soft_wrap=True,
        )


def _valid(kind: Any, value: str, label: str) -> Any:
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        raise fail(f"Invalid {label}: {exc.errors()[0]['msg']}", EXIT_INVALID) from exc


def _valid_password(password: str, settings: Settings) -> str:
    value: str = _valid(Password, password, "password")
    try:
        check_password_strength(value, min_length=settings.password_min_length)
    except ValidationFailed as exc:
        raise fail(f"Invalid password: {exc.message}", EXIT_INVALID) from exc
    return value


@app.command()
def create(
    email: Annotated[str, typer.Option(help="Email address")],
    username: Annotated[str, typer.Option(help="Login name: a-z, 0-9, . _ -")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    role: Annotated[str, typer.Option(help="owner, admin, moderator, member or guest")] = "member",
    display_name: Annotated[str | None, typer.Option(help="Shown name")] = None,
) -> None:
    """Create a user (the first owner included, instead of the setup API)."""
    settings = Settings()
    values = {
        "email": str(_valid(Email, email, "email")),
        "username": _valid(Username, username, "username"),
        "role": _valid(Role, role, "role"),
        "display_name": _valid(DisplayName, display_name or "", "display name") or None,
    }
    password = _valid_password(password, settings)

    async def work(conn: AsyncConnection) -> None:
        if values["role"] == "owner":
            # The setup API's lock: an owner made here and POST /api/setup never both win.
            await conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": SETUP_LOCK_KEY})
        row = await do_create_user(
            conn, password=password, min_password_length=settings.password_min_length, **values
        )
        details: dict[str, Any] = {"role": row["role"], "via": "cli"}
        if row["role"] == "owner" and not await is_completed(conn):
            # The first owner finishes setup, as POST /api/setup would: otherwise setup
            # answers 409 (a user exists) while sign-up still waits for setup.
            await update_config(
                conn,
                {
                    "setup": {"completed": True, "completed_at": datetime.now(UTC).isoformat()},
                    "owner": {"user_id": str(row["id"]), "email": row["email"]},
                },
            )
            details["completed_setup"] = True
        await audit(
            conn,
            "user.created",
            actor_id=None,
            target_type="user",
            target_id=str(row["id"]),
            details=details,
        )
        console.print(f"Created {row['role']} {row['username']} ({row['id']})")

    with operator_errors(), database_url(settings) as url:
        _run(url, work, settings)


@app.command("set-password")
def set_password(
    login: Annotated[str, typer.Argument(help="Username or email")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Set a user's password and end all their sessions."""
    settings = Settings()
    password = _valid_password(password, settings)

    async def work(conn: AsyncConnection) -> None:
        user = await repository.get_by_login(conn, login)
        if user is None:
            raise NchatError(f"No user {login!r}", code="user_not_found")
        await repository.update(conn, user["id"], {"password_hash": await hash_password(password)})
        await repository.revoke_all_sessions(conn, user["id"], "password_reset")
        await audit(
            conn,
            "user.password_set",
            actor_id=None,
            target_type="user",
            target_id=str(user["id"]),
            details={"via": "cli"},
        )
        console.print(f"Password set for {user['username']}; their sessions were ended")

    with operator_errors(), database_url(settings) as url:
        _run(url, work, settings)
