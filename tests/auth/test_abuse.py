"""Sign-in abuse: forged refresh tokens, spellings of one login, a throttled address, and
which X-Forwarded-For is believed."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pydantic
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from nchat.app import create_app
from nchat.auth import tokens
from nchat.auth.tokens import decode_access_token
from nchat.config import Settings
from tests.conftest import make_settings
from tests.fixtures.factories import MadeUser, UserFactory
from tests.fixtures.processes import nchat_env, serving, throwaway_database

WRONG = "wrong password"


@pytest.fixture(scope="module")
async def proxied_app(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FastAPI]:
    settings = make_settings(
        database_url, tmp_path_factory.mktemp("proxied"), trusted_proxies=["10.0.0.0/8", "fd00::/8"]
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def app_client(
    database_url: str, tmp_path: Path, *, peer: str = "127.0.0.1", **overrides: object
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with settings of its own, calling from `peer`."""
    application = create_app(make_settings(database_url, tmp_path, **overrides))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


def session_of(user: MadeUser, app: FastAPI) -> uuid.UUID:
    claims = decode_access_token(user.access_token, secret=app.state.settings.jwt_secret)
    assert claims is not None
    return claims.session_id


async def signin(
    client: httpx.AsyncClient, login: str, password: str, **headers: str
) -> httpx.Response:
    return await client.post(
        "/api/auth/signin", json={"login": login, "password": password}, headers=headers
    )


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/auth/refresh", json={"refresh_token": token})


# -- refresh tokens ------------------------------------------------------------------------


async def test_a_forged_refresh_token_naming_a_session_does_not_end_it(
    app: FastAPI, client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    """The session id is in every access token (`sid`), and access tokens travel in
    WebSocket URLs: knowing it must not let anyone end the session."""
    user = await make_user()
    sid = session_of(user, app)
    for token in (f"{sid}.anything", f"{sid}.{secrets.token_urlsafe(32)}"):
        r = await refresh(client, token)
        assert r.status_code == 401, (token, r.text)
        assert r.json()["error"]["code"] == "invalid_refresh_token", token

    assert (await client.get("/api/users/me", headers=user.headers)).status_code == 200
    r = await refresh(client, user.refresh_token)
    assert r.status_code == 200, r.text


async def test_a_tampered_refresh_token_is_only_invalid(
    app: FastAPI, client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user()
    other = await make_user()
    sid = session_of(user, app)
    first = (await refresh(client, user.refresh_token)).json()["refresh_token"]
    _, gen, rand, mac = first.split(".")
    assert gen == "1"
    tampered = [
        f"{sid}.{gen}.{rand}.{'A' * len(mac)}",  # the format, without the key
        f"{sid}.0.{rand}.{mac}",  # an older generation under another token's MAC
        f"{session_of(other, app)}.0.{rand}.{mac}",  # another session under this MAC
        f"{sid}.{gen}.{rand}.{mac}.",
        f"{sid}.{gen}.{rand}.é",
        f"{sid}.-1.{rand}.{mac}",
        f"{sid}..{rand}.{mac}",
    ]
    for token in tampered:
        r = await refresh(client, token)
        assert r.status_code == 401, (token, r.text)
        assert r.json()["error"]["code"] == "invalid_refresh_token", token

    assert (await refresh(client, first)).status_code == 200
    assert (await refresh(client, other.refresh_token)).status_code == 200


async def test_a_refresh_token_made_with_another_key_is_only_invalid(
    app: FastAPI, client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user()
    sid = session_of(user, app)
    other_key = tokens.new_refresh_token(sid, 0, secret="some other secret of enough length")
    r = await refresh(client, other_key)
    assert r.json()["error"]["code"] == "invalid_refresh_token"
    assert (await refresh(client, user.refresh_token)).status_code == 200


async def test_a_token_rotated_generations_ago_still_ends_the_session(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    user = await make_user()
    first = (await refresh(client, user.refresh_token)).json()
    second = (await refresh(client, first["refresh_token"])).json()
    headers = {"Authorization": f"Bearer {second['access_token']}"}
    assert (await client.get("/api/users/me", headers=headers)).status_code == 200

    reuse = await refresh(client, first["refresh_token"])
    assert reuse.status_code == 401
    assert reuse.json()["error"]["code"] == "refresh_token_reused"
    assert (await client.get("/api/users/me", headers=headers)).status_code == 401
    assert (await refresh(client, second["refresh_token"])).status_code == 401


async def test_a_session_issued_before_macs_still_refreshes_once(
    app: FastAPI, client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine
) -> None:
    user = await make_user()
    sid = session_of(user, app)
    legacy = f"{sid}.{secrets.token_urlsafe(32)}"  # the earlier format: no generation, no MAC
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE nchat_sessions SET refresh_hash = :h, generation = 3 WHERE id = :id"),
            {"h": hashlib.sha256(legacy.encode()).hexdigest(), "id": sid},
        )
    # Another old-format token naming the session proves nothing: refused, session kept.
    forged = await refresh(client, f"{sid}.{secrets.token_urlsafe(32)}")
    assert forged.json()["error"]["code"] == "invalid_refresh_token"

    r = await refresh(client, legacy)
    assert r.status_code == 200, r.text
    rotated = r.json()["refresh_token"]
    assert rotated.count(".") == 3
    # Once rotated, the old-format token cannot be told from a forged one: refused only.
    again = await refresh(client, legacy)
    assert again.json()["error"]["code"] == "invalid_refresh_token"
    r = await refresh(client, rotated)
    assert r.status_code == 200, r.text
    reuse = await refresh(client, rotated)
    assert reuse.json()["error"]["code"] == "refresh_token_reused"


# -- per-account failures ------------------------------------------------------------------


async def test_every_spelling_of_a_login_spends_one_budget(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    alice = await make_user(username="alice")
    for login in (
        "ALICE",
        " alice",
        "alice@example.com",
        "ALICE@EXAMPLE.COM",
        " Alice@Example.Com ",
    ):
        assert (await signin(client, login, WRONG)).status_code == 401, login
    blocked = await signin(client, "alice", alice.password)
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "rate_limited"

    # Unknown logins share a budget per normalised text.
    for login in ("Ghost", " ghost ", "GHOST", "ghost", "gHoSt"):
        assert (await signin(client, login, WRONG)).status_code == 401, login
    assert (await signin(client, "ghost", WRONG)).status_code == 429


async def test_a_success_clears_the_account_whatever_the_spelling(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    bob = await make_user(username="bob")
    for login in ("BOB", "bob@example.com", " Bob ", "BOB@example.com"):
        assert (await signin(client, login, WRONG)).status_code == 401, login
    assert (await signin(client, "Bob@Example.com", bob.password)).status_code == 200
    for login in ("bob", "BOB", "bob@EXAMPLE.com", " bob"):
        assert (await signin(client, login, WRONG)).status_code == 401, login
    assert (await signin(client, "bob", bob.password)).status_code == 200


# -- lockout by others (decision 0060) -----------------------------------------------------


def client_from(app: FastAPI, peer: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def _failures_recorded(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(sa.text("SELECT count(*) FROM nchat_login_failures"))
    return int(count or 0)


async def test_an_attacker_cannot_lock_the_owner_out_of_a_known_address(
    app: FastAPI, client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    """The owner's session was started from 127.0.0.1 (the client's address here), and a
    phone signs in from another; someone who knows only the username spends the account's
    budget from a third address."""
    owner = await make_user()
    async with client_from(app, "192.0.2.44") as phone:
        assert (await signin(phone, owner.username, owner.password)).status_code == 200
    async with client_from(app, "198.51.100.7") as attacker:
        for _ in range(5):  # Settings.login_max_failures default
            assert (await signin(attacker, owner.username, WRONG)).status_code == 401
        # The attacker stays limited, even with the right password.
        assert (await signin(attacker, owner.username, WRONG)).status_code == 429
        assert (await signin(attacker, owner.username, owner.password)).status_code == 429

        assert (await signin(client, owner.username, owner.password)).status_code == 200
        async with client_from(app, "192.0.2.44") as phone:
            assert (await signin(phone, owner.username, owner.password)).status_code == 200
        # The owner's sign-ins forgave nothing of the attacker's.
        assert (await signin(attacker, owner.username, WRONG)).status_code == 429
    # A known address has a budget of its own: its failures lock it out too.
    for _ in range(5):
        assert (await signin(client, owner.username, WRONG)).status_code == 401
    assert (await signin(client, owner.username, owner.password)).status_code == 429


async def test_guesses_spread_over_many_addresses_share_the_account_budget(
    app: FastAPI, client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine
) -> None:
    owner = await make_user()
    codes = []
    for i in range(20):
        async with client_from(app, f"198.51.100.{i + 1}") as attacker:
            codes.append((await signin(attacker, owner.username, WRONG)).status_code)
    for i in range(10):  # each from a /64 of its own
        async with client_from(app, f"2001:db8:{i}::1") as attacker:
            codes.append((await signin(attacker, owner.username, WRONG)).status_code)
    assert codes == [401] * 5 + [429] * 25
    assert await _failures_recorded(engine) == 5
    # Addresses the account never signed in from are locked out, the right password too:
    # the price of keeping the owner's own addresses open.
    async with client_from(app, "203.0.113.200") as newcomer:
        assert (await signin(newcomer, owner.username, owner.password)).status_code == 429
    assert (await signin(client, owner.username, owner.password)).status_code == 200


async def test_a_burst_from_many_addresses_gets_no_more_guesses_than_the_limit(
    app: FastAPI, clean_db: None, make_user: UserFactory, engine: AsyncEngine
) -> None:
    owner = await make_user()

    async def guess(i: int) -> int:
        async with client_from(app, f"198.51.100.{i + 1}") as attacker:
            return (await signin(attacker, owner.username, WRONG)).status_code

    codes = await asyncio.gather(*(guess(i) for i in range(20)))
    assert set(codes) <= {401, 429}
    assert await _failures_recorded(engine) == codes.count(401) <= 5


async def test_a_known_address_is_forgotten_after_the_configured_days(
    app: FastAPI, client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine
) -> None:
    owner = await make_user()
    async with client_from(app, "198.51.100.7") as attacker:
        for _ in range(5):
            assert (await signin(attacker, owner.username, WRONG)).status_code == 401
    async with engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE nchat_login_addresses SET last_success_at = now() - interval '91 days'")
        )  # Settings.login_known_address_days default: 90
    assert (await signin(client, owner.username, owner.password)).status_code == 429


# -- per-address throttle ------------------------------------------------------------------


async def _fail_from_address(client: httpx.AsyncClient, times: int, **headers: str) -> None:
    for i in range(times):
        r = await signin(client, f"ghost{i}", WRONG, **headers)
        assert r.status_code == 401, (i, r.text)


async def _age_failures(engine: AsyncEngine, seconds: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE nchat_login_failures "
                "SET created_at = created_at - make_interval(secs => :s)"
            ),
            {"s": seconds},
        )


async def test_an_address_over_the_limit_is_slowed_not_locked_out(
    client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine
) -> None:
    user = await make_user()
    await _fail_from_address(client, 30)  # Settings.login_ip_max_failures default
    slowed = await signin(client, user.username, user.password)
    assert slowed.status_code == 429
    assert 1 <= int(slowed.headers["retry-after"]) <= 10  # Settings.login_ip_slow_s default
    assert slowed.json()["error"]["details"]["retry_after"] == int(slowed.headers["retry-after"])

    await _age_failures(engine, 11)
    assert (await signin(client, user.username, user.password)).status_code == 200
    # A failure spends the slot: the next attempt waits for the interval again.
    assert (await signin(client, "ghost-again", WRONG)).status_code == 401
    again = await signin(client, user.username, user.password)
    assert again.status_code == 429
    assert 5 <= int(again.headers["retry-after"]) <= 10


async def test_the_slow_interval_passes_in_real_time(
    database_url: str, tmp_path: Path, make_user: UserFactory
) -> None:
    user = await make_user()
    async with app_client(
        database_url, tmp_path, login_ip_max_failures=3, login_ip_slow_s=2
    ) as client:
        await _fail_from_address(client, 3)
        slowed = await signin(client, user.username, user.password)
        assert slowed.status_code == 429 and slowed.headers["retry-after"] in ("1", "2")
        await asyncio.sleep(2.1)
        assert (await signin(client, user.username, user.password)).status_code == 200


async def test_a_burst_from_a_slowed_address_gets_one_attempt(
    database_url: str, tmp_path: Path, clean_db: None, engine: AsyncEngine
) -> None:
    async with app_client(database_url, tmp_path, login_ip_max_failures=3) as client:
        await _fail_from_address(client, 3)
        await _age_failures(engine, 11)
        burst = await asyncio.gather(*(signin(client, f"burst{i}", WRONG) for i in range(6)))
        codes = sorted(r.status_code for r in burst)
        assert codes == [401, 429, 429, 429, 429, 429], codes


async def test_an_ipv6_client_is_counted_by_its_64(
    app: FastAPI, clean_db: None, make_user: UserFactory
) -> None:
    user = await make_user()

    def client_from(peer: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://test")

    for i in range(30):  # each from another address of one /64
        async with client_from(f"2001:db8:1:2::{i + 1:x}") as c:
            assert (await signin(c, f"ghost{i}", WRONG)).status_code == 401
    async with client_from("2001:db8:1:2:ffff::9") as c:
        assert (await signin(c, user.username, user.password)).status_code == 429
    async with client_from("2001:db8:1:3::1") as c:
        assert (await signin(c, user.username, user.password)).status_code == 200


# -- client address ------------------------------------------------------------------------


async def _session_ips(client: httpx.AsyncClient, user: MadeUser) -> set[str]:
    listed = (await client.get("/api/auth/sessions", headers=user.headers)).json()["sessions"]
    return {s["ip"] for s in listed if not s["current"]}


async def test_forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy(
    database_url: str, tmp_path: Path, make_user: UserFactory
) -> None:
    user = await make_user()
    spoofed = {"X-Forwarded-For": "203.0.113.7"}
    async with app_client(database_url, tmp_path, login_ip_max_failures=3) as client:
        for i in range(3):
            r = await signin(client, f"ghost{i}", WRONG, **{"X-Forwarded-For": f"203.0.113.{i}"})
            assert r.status_code == 401
        # Counted against the peer, 127.0.0.1, whatever the header said.
        assert (await signin(client, user.username, user.password, **spoofed)).status_code == 429

    async with app_client(
        database_url, tmp_path, login_ip_max_failures=3, trusted_proxies=["127.0.0.0/8"]
    ) as client:
        for i in range(3):
            r = await signin(client, f"ghost{i}", WRONG, **{"X-Forwarded-For": "203.0.113.9"})
            assert r.status_code == 401
        assert (await signin(client, user.username, user.password, **spoofed)).status_code == 200
        assert await _session_ips(client, user) == {"203.0.113.7"}
        blocked = await signin(
            client, user.username, user.password, **{"X-Forwarded-For": "203.0.113.9"}
        )
        assert blocked.status_code == 429


@pytest.mark.parametrize(
    ("peer", "forwarded", "seen"),
    [
        # An untrusted peer's header is never read.
        ("198.51.100.4", ["203.0.113.7"], "198.51.100.4"),
        # The right-most address that is not a trusted proxy; what is left of it is the
        # client's to write.
        ("10.0.0.2", ["1.1.1.1, 203.0.113.7"], "203.0.113.7"),
        ("10.0.0.2", ["1.1.1.1, 203.0.113.7, 10.0.0.9"], "203.0.113.7"),
        ("10.0.0.2", ["1.1.1.1", "203.0.113.7, 10.0.0.9"], "203.0.113.7"),
        # Every hop trusted: the farthest one.
        ("10.0.0.2", ["10.0.0.8, 10.0.0.9"], "10.0.0.8"),
        # No header, or nothing usable in it: the proxy itself.
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["not-an-address"], "10.0.0.2"),
        ("10.0.0.2", ["203.0.113.7, junk, 10.0.0.9"], "10.0.0.9"),
        # Written the way some proxies do: with a port, bracketed, or IPv4 in IPv6.
        ("10.0.0.2", ["203.0.113.7:5123"], "203.0.113.7"),
        ("10.0.0.2", ["[2001:db8::7]:443"], "2001:db8::7"),
        ("::ffff:10.0.0.2", ["::ffff:203.0.113.7"], "203.0.113.7"),
        ("fd00::2", ["2001:DB8:0::7"], "2001:db8::7"),
    ],
)
async def test_client_address_behind_trusted_proxies(
    proxied_app: FastAPI, make_user: UserFactory, peer: str, forwarded: list[str], seen: str
) -> None:
    user = await make_user()
    transport = httpx.ASGITransport(app=proxied_app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        headers = [("X-Forwarded-For", value) for value in forwarded]
        r = await client.post(
            "/api/auth/signin",
            json={"login": user.username, "password": user.password},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        assert await _session_ips(client, user) == {seen}


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    settings = Settings(trusted_proxies="10.0.0.0/8, 192.168.1.1 ,fd00::/8")  # type: ignore[arg-type]
    assert settings.trusted_proxies == ["10.0.0.0/8", "192.168.1.1", "fd00::/8"]
    with pytest.raises(pydantic.ValidationError, match=r"proxy\.example"):
        Settings(trusted_proxies="10.0.0.0/8,proxy.example")  # type: ignore[arg-type]


def test_serve_leaves_forwarded_for_to_nchat(server_url: str, tmp_path: Path) -> None:
    """uvicorn must not rewrite the peer from X-Forwarded-For on its own (by default it
    would, for a peer of 127.0.0.1); with the peer trusted, nchat reads the header."""
    owner = {
        "owner": {
            "email": "owner@example.com",
            "username": "owner",
            "password": "correct horse battery",
            "display_name": "Owner",
        }
    }
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    with throwaway_database(server_url) as url:
        plain = nchat_env(tmp_path / "a", url, NCHAT_SECRET_KEY="k" * 40)
        behind = nchat_env(
            tmp_path / "b", url, NCHAT_SECRET_KEY="k" * 40, NCHAT_TRUSTED_PROXIES="127.0.0.1"
        )
        with serving(plain, tmp_path / "a.log") as a:
            a.wait_healthy()
            setup = httpx.post(f"{a.url}/api/setup", json=owner, headers=forwarded, timeout=10)
            assert setup.status_code == 201, setup.text
            headers = {"Authorization": f"Bearer {setup.json()['access_token']}"}
            listed = httpx.get(f"{a.url}/api/auth/sessions", headers=headers, timeout=10)
            assert [s["ip"] for s in listed.json()["sessions"]] == ["127.0.0.1"]
        with serving(behind, tmp_path / "b.log", args=("--no-migrate",)) as b:
            b.wait_healthy()
            login = {"login": "owner", "password": "correct horse battery"}
            r = httpx.post(f"{b.url}/api/auth/signin", json=login, headers=forwarded, timeout=10)
            assert r.status_code == 200, r.text
            listed = httpx.get(f"{b.url}/api/auth/sessions", headers=headers, timeout=10)
            assert sorted(s["ip"] for s in listed.json()["sessions"]) == [
                "127.0.0.1",
                "203.0.113.7",
            ]


async def test_a_burst_against_one_account_gets_no_more_guesses_than_the_limit(
    client: httpx.AsyncClient, make_user: UserFactory, engine: AsyncEngine
) -> None:
    """Sent at once, sign-ins must not all pass the count before any failure is recorded."""
    user = await make_user()
    burst = await asyncio.gather(*(signin(client, user.username, WRONG) for _ in range(20)))
    assert {r.status_code for r in burst} <= {401, 429}
    async with engine.connect() as conn:
        recorded = await conn.scalar(sa.text("SELECT count(*) FROM nchat_login_failures"))
    assert recorded == sum(r.status_code == 401 for r in burst) <= 5
    # The account's budget is what those failures spent, no more.
    r = await signin(client, user.username, user.password)
    assert r.status_code == (429 if recorded == 5 else 200)
