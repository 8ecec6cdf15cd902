"""Two apps on one database, each with its own bus: maintenance mode turned on through one
refuses writes on the other, and off again; a process hears of a change over the bus, not
only at its next look at the row."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from nchat.app import create_app
from nchat.db.engine import create_engine
from nchat.maintenance.view import MaintenanceView
from nchat.realtime.bus import PostgresBus
from tests.conftest import make_settings
from tests.fixtures.factories import UserFactory
from tests.maintenance.conftest import PATH, client_of, turn_off, turn_on
from tests.messaging.helpers import Api
from tests.realtime.nodes import eventually

TIMEOUT = 15.0


async def test_on_through_one_node_refuses_writes_on_the_other(
    database_url: str, tmp_path: Path, clean_db: None, make_user: UserFactory
) -> None:
    owner = await make_user("owner")
    member = await make_user("member")
    a = create_app(make_settings(database_url, tmp_path / "a"))
    b = create_app(make_settings(database_url, tmp_path / "b"))
    async with (
        a.router.lifespan_context(a),
        b.router.lifespan_context(b),
        client_of(a) as on_a,
        client_of(b) as on_b,
    ):
        try:
            channel = await Api(on_b).create_channel(member, "nodes")
            send = {"channel_id": channel["id"], "text": "on b"}
            await turn_on(on_a, owner, message="Rolling upgrade", retry_after_s=15)

            async def b_refuses() -> bool:
                response = await on_b.post("/api/messages", headers=member.headers, json=send)
                return response.status_code == 503

            await eventually(b_refuses, what="node B refuses writes")
            refused = await on_b.post("/api/messages", headers=member.headers, json=send)
            assert refused.headers["retry-after"] == "15"
            assert refused.json()["error"]["message"] == "Rolling upgrade"
            assert (await on_b.get("/api/health")).json()["status"] == "maintenance"
            assert (await on_b.get("/api/channels", headers=member.headers)).status_code == 200

            assert (await on_a.delete(PATH, headers=owner.headers)).status_code == 200

            async def b_takes() -> bool:
                response = await on_b.post("/api/messages", headers=member.headers, json=send)
                return response.status_code == 201

            await eventually(b_takes, what="node B takes writes again")
        finally:
            await turn_off(a)


async def test_a_process_hears_of_changes_over_the_bus(
    database_url: str, clean_db: None, make_user: UserFactory, http: httpx.AsyncClient
) -> None:
    """A view that would not look at the row again for an hour follows the changes."""
    owner = await make_user("owner")
    engine = create_engine(database_url, pool_size=1)
    bus = PostgresBus(database_url)
    view = MaintenanceView(engine, bus, refresh_s=3600)
    await bus.start()
    await view.start()
    try:
        await asyncio.wait_for(bus.connected.wait(), TIMEOUT)
        assert view.state is None
        await turn_on(http, owner, message="Heard")

        async def on() -> bool:
            return view.state is not None and view.state.message == "Heard"

        await eventually(on, what="the view hears it start")
        assert (await http.delete(PATH, headers=owner.headers)).status_code == 200

        async def off() -> bool:
            return view.state is None

        await eventually(off, what="the view hears it end")
    finally:
        await view.stop()
        await bus.stop()
        await engine.dispose()
