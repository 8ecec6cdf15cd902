"""Live sessions are remembered per process for a few seconds; whatever ends a session or
changes its user takes effect at once in the process that made the change and, over the
bus, in every other one (well inside the cache's lifetime)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from nchat.auth import session_cache
from tests.fixtures.factories import MadeUser, UserFactory
from tests.realtime.conftest import LiveServer, start_live, stop_live

ACROSS_S = 2.0  # well under session_cache.TTL_S: a pass here is the bus, not expiry


async def _me(client: httpx.AsyncClient, user: MadeUser) -> httpx.Response:
    return await client.get("/api/users/me", headers=user.headers)


async def test_revoked_session_and_changed_role_take_effect_at_once(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    owner = await make_user("owner")
    user = await make_user()
    other = await client.post(
        "/api/auth/signin", json={"login": user.username, "password": user.password}
    )
    other_headers = {"Authorization": f"Bearer {other.json()['access_token']}"}
    assert (await client.get("/api/users/me", headers=other_headers)).status_code == 200
    assert (await _me(client, user)).json()["role"] == "member"  # both sessions remembered

    sessions = (await client.get("/api/auth/sessions", headers=user.headers)).json()["sessions"]
    target = next(s["id"] for s in sessions if not s["current"])
    r = await client.delete(f"/api/auth/sessions/{target}", headers=user.headers)
    assert r.status_code == 204
    assert (await client.get("/api/users/me", headers=other_headers)).status_code == 401

    r = await client.put(f"/api/users/{user.id}", headers=owner.headers, json={"role": "admin"})
    assert r.status_code == 200, r.text
    assert (await _me(client, user)).json()["role"] == "admin"
    r = await client.put(f"/api/users/{user.id}", headers=owner.headers, json={"is_active": False})
    assert r.status_code == 200, r.text
    assert (await _me(client, user)).status_code == 401


async def _until(check: Callable[[], Awaitable[bool]], deadline_s: float) -> float:
    """Seconds until `check` gives True."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not await check():
        assert loop.time() - start < deadline_s, "not in time"
        await asyncio.sleep(0.05)
    return loop.time() - start


async def test_changes_made_on_one_process_reach_the_others(
    database_url: str, tmp_path: Path, make_user: UserFactory
) -> None:
    assert ACROSS_S < session_cache.TTL_S
    owner = await make_user("owner")
    user = await make_user()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    node_a: LiveServer = await start_live(database_url, tmp_path / "a")
    node_b: LiveServer = await start_live(database_url, tmp_path / "b")
    try:
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{node_a.port}") as a,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{node_b.port}") as b,
        ):
            assert (await _me(b, user)).json()["name"] != "Renamed"  # remembered on B
            r = await a.put(
                f"/api/users/{user.id}", headers=owner.headers, json={"display_name": "Renamed"}
            )
            assert r.status_code == 200, r.text

            async def renamed() -> bool:
                return bool((await _me(b, user)).json()["name"] == "Renamed")

            await _until(renamed, ACROSS_S)

            assert (await a.post("/api/auth/signout", headers=user.headers)).status_code == 204

            async def refused() -> bool:
                return (await _me(b, user)).status_code == 401

            await _until(refused, ACROSS_S)
    finally:
        await stop_live(node_a)
        await stop_live(node_b)
