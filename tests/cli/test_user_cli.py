"""`nchat user create|set-password`: users an operator makes from the shell can use the app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError
from typer.testing import CliRunner, Result

from nchat.app import create_app
from nchat.cli.main import app
from nchat.config import Settings
from nchat.db import migrate
from nchat.db.engine import libpq_url
from tests.fixtures.processes import throwaway_database

runner = CliRunner()
PASSWORD = "correct horse battery"


@pytest.fixture
def db_url(server_url: str) -> Iterator[str]:
    with throwaway_database(server_url) as url:
        migrate.upgrade(url)
        yield url


def nchat(url: str, tmp_path: Path, *args: str, stdin: str | None = None) -> Result:
    return runner.invoke(
        app,
        list(args),
        env={"NCHAT_DATABASE_URL": url, "NCHAT_DATA_DIR": str(tmp_path)},
        input=stdin,
    )


def create(url: str, tmp_path: Path, username: str, *extra: str) -> Result:
    return nchat(
        url,
        tmp_path,
        "user",
        "create",
        "--email",
        f"{username}@example.com",
        "--username",
        username,
        "--password",
        PASSWORD,
        *extra,
    )


async def _fetch(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


def fetch(url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    return asyncio.run(_fetch(url, sql, *args))


def users(url: str) -> list[dict[str, Any]]:
    return fetch(url, "SELECT * FROM nchat_users ORDER BY created_at")


@asynccontextmanager
async def api(url: str, data_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app on this database, in process."""
    settings = Settings(
        database_url=url,
        data_dir=data_dir,
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
        log_level="warning",
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def _signin(url: str, data_dir: Path, login: str, password: str) -> httpx.Response:
    async with api(url, data_dir) as client:
        return await client.post("/api/auth/signin", json={"login": login, "password": password})


def signin(url: str, data_dir: Path, login: str, password: str) -> httpx.Response:
    return asyncio.run(_signin(url, data_dir, login, password))


# -- create --------------------------------------------------------------------------------


def test_create_owner_who_can_sign_in(db_url: str, tmp_path: Path) -> None:
    result = nchat(
        db_url,
        tmp_path,
        "user",
        "create",
        "--email",
        "Olga@Example.com",
        "--username",
        "Olga",
        "--password",
        PASSWORD,
        "--role",
        "owner",
        "--display-name",
        "Olga O.",
    )
    assert result.exit_code == 0, result.output
    assert "Created owner olga" in result.stdout

    [row] = users(db_url)
    assert (row["username"], row["role"], row["display_name"]) == ("olga", "owner", "Olga O.")
    assert row["email"].lower() == "olga@example.com"
    assert row["is_active"] and row["deleted_at"] is None
    assert row["password_hash"].startswith("$argon2id$")
    assert PasswordHasher().verify(row["password_hash"], PASSWORD)
    with pytest.raises(VerifyMismatchError):
        PasswordHasher().verify(row["password_hash"], "wrong password")

    response = signin(db_url, tmp_path, "olga", PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["access_token"] and body["refresh_token"]
    assert body["user"]["role"] == "owner"


def test_first_owner_completes_setup(db_url: str, tmp_path: Path) -> None:
    """The banner offers `nchat user create --role owner` instead of POST /api/setup: after
    it, setup is done (not half done: setup refusing while sign-up waits for setup)."""
    assert create(db_url, tmp_path, "boss", "--role", "owner").exit_code == 0
    assert create(db_url, tmp_path, "boss2", "--role", "owner").exit_code == 0

    async def check() -> None:
        async with api(db_url, tmp_path) as client:
            status = await client.get("/api/setup/status")
            assert status.json() == {"completed": True}
            owner = {
                "email": "x@example.com",
                "username": "xavier",
                "password": PASSWORD,
                "display_name": "X",
            }
            setup = await client.post("/api/setup", json={"owner": owner})
            assert setup.status_code == 409
            assert setup.json()["error"]["code"] == "setup_completed"
            signup = await client.post(
                "/api/auth/signup",
                json={"email": "m@example.com", "username": "member", "password": PASSWORD},
            )
            assert signup.json()["error"]["code"] == "signup_closed"  # not "setup_required"

    asyncio.run(check())
    [config] = fetch(db_url, "SELECT owner::text AS owner FROM nchat_app_config")
    first = users(db_url)[0]
    assert str(first["id"]) in config["owner"]  # the first owner, not the second


def test_create_prompts_for_the_password(db_url: str, tmp_path: Path) -> None:
    result = nchat(
        db_url,
        tmp_path,
        "user",
        "create",
        "--email",
        "p@example.com",
        "--username",
        "prompted",
        stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.stdout  # hidden input
    assert signin(db_url, tmp_path, "p@example.com", PASSWORD).status_code == 200


def test_default_role_is_member(db_url: str, tmp_path: Path) -> None:
    assert create(db_url, tmp_path, "mia").exit_code == 0
    assert [(u["username"], u["role"]) for u in users(db_url)] == [("mia", "member")]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--email", "not-an-email", "Invalid email"),
        ("--username", "no spaces", "Invalid username"),
        ("--username", "x", "Invalid username"),
        ("--username", "é", "Invalid username"),
        ("--role", "king", "Invalid role"),
        ("--password", "short", "Invalid password"),
        ("--display-name", "d" * 81, "Invalid display name"),
    ],
)
def test_invalid_input_exits_2_and_creates_nothing(
    db_url: str, tmp_path: Path, option: str, value: str, message: str
) -> None:
    values = {
        "--email": "ok@example.com",
        "--username": "okay",
        "--password": PASSWORD,
        "--role": "member",
    }
    values[option] = value
    args = [part for pair in values.items() for part in pair]
    result = nchat(db_url, tmp_path, "user", "create", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert users(db_url) == []


def test_invalid_username_message_shows_the_rule(db_url: str, tmp_path: Path) -> None:
    result = nchat(
        db_url,
        tmp_path,
        "user",
        "create",
        "--email",
        "bad@example.com",
        "--username",
        "Bad Name",
        "--password",
        PASSWORD,
    )
    assert result.exit_code == 2
    # Printed verbatim: the pattern's [...] are not swallowed as console markup.
    assert "[a-z0-9]" in result.stderr


@pytest.mark.parametrize(
    ("email", "username", "taken"),
    [
        ("other@example.com", "ALICE", "username"),
        ("ALICE@EXAMPLE.COM", "other", "email"),
    ],
)
def test_duplicate_exits_1_with_a_message(
    db_url: str, tmp_path: Path, email: str, username: str, taken: str
) -> None:
    assert create(db_url, tmp_path, "alice").exit_code == 0
    result = nchat(
        db_url,
        tmp_path,
        "user",
        "create",
        "--email",
        email,
        "--username",
        username,
        "--password",
        PASSWORD,
    )
    assert result.exit_code == 1, result.output
    assert f"That {taken} is already taken" in result.stderr
    assert isinstance(result.exception, SystemExit)
    assert len(users(db_url)) == 1


def test_unreachable_database_exits_1(server_url: str, tmp_path: Path) -> None:
    with throwaway_database(server_url) as url:
        pass  # dropped: certainly absent
    result = create(url, tmp_path, "nobody")
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("Error: ")


# -- set-password --------------------------------------------------------------------------


def test_set_password_replaces_it_and_ends_every_session(db_url: str, tmp_path: Path) -> None:
    assert create(db_url, tmp_path, "sam").exit_code == 0

    async def two_sessions() -> list[dict[str, Any]]:
        async with api(db_url, tmp_path) as client:
            out = []
            for _ in range(2):
                r = await client.post(
                    "/api/auth/signin", json={"login": "sam", "password": PASSWORD}
                )
                assert r.status_code == 200, r.text
                out.append(r.json())
            return out

    sessions = asyncio.run(two_sessions())
    new_password = "a brand new passphrase"
    result = nchat(
        db_url, tmp_path, "user", "set-password", "SAM@example.com", "--password", new_password
    )
    assert result.exit_code == 0, result.output
    assert "Password set for sam" in result.stdout

    rows = fetch(db_url, "SELECT revoked_at, revoked_reason FROM nchat_sessions")
    assert len(rows) == 2
    assert all(r["revoked_at"] is not None for r in rows)
    assert {r["revoked_reason"] for r in rows} == {"password_reset"}

    async def after() -> None:
        async with api(db_url, tmp_path) as client:
            for tokens in sessions:
                headers = {"Authorization": f"Bearer {tokens['access_token']}"}
                assert (await client.get("/api/users/me", headers=headers)).status_code == 401
                refreshed = await client.post(
                    "/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
                )
                assert refreshed.status_code == 401
            old = await client.post("/api/auth/signin", json={"login": "sam", "password": PASSWORD})
            assert old.status_code == 401
            new = await client.post(
                "/api/auth/signin", json={"login": "sam", "password": new_password}
            )
            assert new.status_code == 200, new.text

    asyncio.run(after())


def test_set_password_prompts(db_url: str, tmp_path: Path) -> None:
    assert create(db_url, tmp_path, "pat").exit_code == 0
    new_password = "typed at the prompt"
    result = nchat(
        db_url, tmp_path, "user", "set-password", "pat", stdin=f"{new_password}\n{new_password}\n"
    )
    assert result.exit_code == 0, result.output
    assert signin(db_url, tmp_path, "pat", new_password).status_code == 200


def test_set_password_for_unknown_user_exits_1(db_url: str, tmp_path: Path) -> None:
    result = nchat(db_url, tmp_path, "user", "set-password", "ghost", "--password", PASSWORD)
    assert result.exit_code == 1
    assert "No user 'ghost'" in result.stderr


def test_set_password_too_short_exits_2_and_changes_nothing(db_url: str, tmp_path: Path) -> None:
    assert create(db_url, tmp_path, "kim").exit_code == 0
    [before] = users(db_url)
    result = nchat(db_url, tmp_path, "user", "set-password", "kim", "--password", "short")
    assert result.exit_code == 2
    assert "Invalid password" in result.stderr
    [after] = users(db_url)
    assert after["password_hash"] == before["password_hash"]
