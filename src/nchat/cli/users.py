"""`nchat user create|set-password` for operators."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.auth.passwords import hash_password
from nchat.cli.common import console, database_url, err_console
from nchat.config import Settings
from nchat.db.engine import create_engine
from nchat.errors import NchatError
from nchat.users import repository
from nchat.users.schemas import Email, Role, Username
from nchat.users.service import check_password_strength, do_create_user

app = typer.Typer(help="Manage users from the shell.", no_args_is_help=True)

Work = Callable[[AsyncConnection], Awaitable[None]]


def _run(url: str, work: Work) -> None:
    async def runner() -> None:
        engine = create_engine(url, pool_size=1)
        try:
            async with engine.begin() as conn:
                await work(conn)
        finally:
            await engine.dispose()

    try:
        asyncio.run(runner())
    except NchatError as exc:
        err_console.print(f"Error: {exc.message} ({exc.code})")
        raise typer.Exit(1) from exc


def _valid(kind: Any, value: str, label: str) -> Any:
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError as exc:
        err_console.print(f"Invalid {label}: {exc.errors()[0]['msg']}")
        raise typer.Exit(2) from exc


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
    }

    async def work(conn: AsyncConnection) -> None:
        row = await do_create_user(
            conn,
            password=password,
            display_name=display_name,
            min_password_length=settings.password_min_length,
            **values,
        )
        console.print(f"Created {row['role']} {row['username']} ({row['id']})")

    with database_url(settings) as url:
        _run(url, work)


@app.command("set-password")
def set_password(
    login: Annotated[str, typer.Argument(help="Username or email")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """Set a user's password and end all their sessions."""
    settings = Settings()

    async def work(conn: AsyncConnection) -> None:
        user = await repository.get_by_login(conn, login)
        if user is None:
            raise NchatError(f"No user {login!r}", code="user_not_found")
        check_password_strength(password, min_length=settings.password_min_length)
        await repository.update(conn, user["id"], {"password_hash": await hash_password(password)})
        await repository.revoke_all_sessions(conn, user["id"], "password_reset")
        console.print(f"Password set for {user['username']}; their sessions were ended")

    with database_url(settings) as url:
        _run(url, work)
