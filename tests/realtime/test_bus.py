"""The bus over real PostgreSQL and real Redis: instances hear each other (and themselves),
Redis channels are named per deployment, and every kind of lost connection heals by itself:
a terminated LISTEN backend, a killed Redis pub/sub client, a Redis connection that goes
silent, a connection cut while publishes are queued, a listener that throws.

Only this process's connections are cut (found by application name and database, or by
the client's address), so tests running beside these on the same servers are not touched."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis
from sqlalchemy.engine import make_url

from nchat.realtime import hub as hub_module
from nchat.realtime import redis_bus
from nchat.realtime.bus import Bus
from nchat.realtime.redis_bus import database_prefix, make_bus
from nchat.realtime.topics import EPHEMERAL, EVENTS
from tests.fixtures.factories import UserFactory
from tests.messaging.helpers import Api
from tests.realtime.conftest import start_live, stop_live
from tests.realtime.nodes import (
    REDIS_URL,
    TIMEOUT,
    Stream,
    connect,
    eventually,
    kill_pg_bus_backends,
    kill_redis_clients,
    next_frame,
    pg_bus_backends,
    redis_clients,
    silent_relay,
    throwaway_database,
)

BACKENDS = ["postgres", "redis"]
# Well below the hubs' poll once that is turned off (POLL_S = NO_POLL_S): an event that
# arrives within this came over the bus.
PROMPTLY = 8.0
NO_POLL_S = 120.0
# The Redis bus's PING interval in tests that wait for it.
QUICK_PING_S = 0.3


class Recorder:
    """A bus listener that keeps what it hears."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, str]] = []

    def __call__(self, topic: str, payload: str) -> None:
        self.heard.append((topic, payload))

    def payloads(self, prefix: str) -> list[str]:
        return [p for t, p in self.heard if t == EPHEMERAL and p.startswith(prefix)]

    def wakes(self) -> int:
        return sum(1 for t, _ in self.heard if t == EVENTS)


def new_bus(backend: str, database_url: str) -> Bus:
    return make_bus(database_url=database_url, redis_url=REDIS_URL if backend == "redis" else None)


@contextlib.asynccontextmanager
async def started(*buses: Bus) -> AsyncIterator[None]:
    """The buses running and connected; stopped (connections closed) after."""
    try:
        for bus in buses:
            await bus.start()
        async with asyncio.timeout(TIMEOUT):
            for bus in buses:
                await bus.connected.wait()
        yield
    finally:
        for bus in buses:
            await bus.stop()


async def until(check: Callable[[], bool], what: str, timeout: float = PROMPTLY) -> None:
    async def holds() -> bool:
        return check()

    await eventually(holds, timeout=timeout, what=what)


async def cut_connections(backend: str, database_url: str, before: set[int]) -> set[int]:
    """Cut the connections that appeared since `before` was taken (this test's), and return
    them: LISTEN backends (PostgreSQL), or pub/sub and command clients (Redis)."""
    if backend == "postgres":
        ours = await pg_bus_backends(database_url) - before
        assert ours, "no bus connection of this test in pg_stat_activity"
        await kill_pg_bus_backends(database_url, ours)
        return ours
    pubsub = set(await redis_clients([os.getpid()]))
    ours = (pubsub | set(await redis_clients([os.getpid()], "normal"))) - before
    assert pubsub - before, "no pub/sub client of this test in CLIENT LIST"
    await kill_redis_clients(ours)
    return ours


async def connections(backend: str, database_url: str) -> set[int]:
    if backend == "postgres":
        return await pg_bus_backends(database_url)
    pids = [os.getpid()]
    return set(await redis_clients(pids)) | set(await redis_clients(pids, "normal"))


# -- two instances -------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
async def test_every_instance_hears_every_publish(backend: str, database_url: str) -> None:
    a, b = new_bus(backend, database_url), new_bus(backend, database_url)
    heard_a, heard_b = Recorder(), Recorder()
    a.listen(heard_a)
    b.listen(heard_b)
    async with started(a, b):
        # Connecting wakes the local readers (to catch up on what the log got meanwhile).
        assert heard_a.wakes() >= 1 and heard_b.wakes() >= 1
        heard_a.heard.clear()
        heard_b.heard.clear()

        token = uuid.uuid4().hex
        expected = [f"{token}:{i}" for i in range(5)]
        for payload in expected:
            await a.publish(EPHEMERAL, payload)
        for _ in range(50):  # a burst of commits: wake-ups coalesce
            await a.publish(EVENTS)

        await until(lambda: len(heard_b.payloads(token)) >= 5, "b hears a's signals")
        await until(lambda: heard_b.wakes() >= 1, "b hears a's wake-up")
        # The publisher hears itself too: one process's own hub is woken that way.
        await until(lambda: len(heard_a.payloads(token)) >= 5, "a hears its own signals")
        await until(lambda: heard_a.wakes() >= 1, "a hears its own wake-up")
        await asyncio.sleep(0.2)
        # Ephemeral signals are not coalesced: each once, in order.
        assert heard_b.payloads(token) == expected
        assert heard_a.payloads(token) == expected


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_failing_listener_neither_starves_others_nor_ends_the_bus(
    backend: str, database_url: str
) -> None:
    a, b = new_bus(backend, database_url), new_bus(backend, database_url)
    token = uuid.uuid4().hex
    heard = Recorder()

    def picky(topic: str, payload: str) -> None:
        if payload == f"{token}:bad":
            raise ValueError("a payload this listener cannot read")

    b.listen(picky)  # first, so it runs before the recorder
    b.listen(heard)
    async with started(a, b):
        await a.publish(EPHEMERAL, f"{token}:bad")
        await until(lambda: heard.payloads(token) == [f"{token}:bad"], "the recorder still hears")
        await a.publish(EPHEMERAL, f"{token}:good")
        await until(lambda: len(heard.payloads(token)) == 2, "the bus still delivers after it")
        assert heard.payloads(token) == [f"{token}:bad", f"{token}:good"]


# -- lost connections ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
async def test_bus_reconnects_while_publishes_keep_coming(backend: str, database_url: str) -> None:
    """Connections cut under a stream of publishes: both ends reconnect, the publisher's
    sender survives whatever the dying connection raised, and delivery resumes."""
    before = await connections(backend, database_url)
    a, b = new_bus(backend, database_url), new_bus(backend, database_url)
    token = uuid.uuid4().hex
    heard = Recorder()
    b.listen(heard)
    async with started(a, b):
        stop = asyncio.Event()

        async def spam() -> None:
            i = 0
            while not stop.is_set():
                await a.publish(EPHEMERAL, f"{token}:spam:{i}")
                await a.publish(EVENTS)
                i += 1
                await asyncio.sleep(0.001)

        spammer = asyncio.create_task(spam())
        try:
            cut = await cut_connections(backend, database_url, before)
            await until(lambda: not b.connected.is_set(), "b notices its connection is gone")
            await until(lambda: a.connected.is_set() and b.connected.is_set(), "both reconnect")
            await asyncio.sleep(0.3)  # publishing on through the new connections
        finally:
            stop.set()
            await spammer
        now = await connections(backend, database_url)
        assert not cut & now, "the cut connections were replaced, not kept"

        heard.heard.clear()
        await a.publish(EPHEMERAL, f"{token}:after")
        await a.publish(EVENTS)
        await until(lambda: heard.payloads(f"{token}:after") == [f"{token}:after"], "delivery")
        await until(lambda: heard.wakes() >= 1, "wake-ups are delivered again")


async def test_wake_up_lost_while_disconnected_is_sent_once_back(database_url: str) -> None:
    """A commit's wake-up published while the bus is down is not just dropped: it goes out
    once the bus is back, so the other nodes need not wait for their next poll."""
    before = await pg_bus_backends(database_url)
    a = new_bus("postgres", database_url)
    async with started(a):
        mine = await pg_bus_backends(database_url) - before
        assert len(mine) == 1
        b = new_bus("postgres", database_url)
        heard = Recorder()
        b.listen(heard)
        async with started(b):
            heard.heard.clear()
            await kill_pg_bus_backends(database_url, mine)  # a's only
            await until(lambda: not a.connected.is_set(), "a notices")
            await a.publish(EVENTS)  # nowhere to send it now
            await asyncio.sleep(0.1)
            assert heard.wakes() == 0
            await until(lambda: heard.wakes() >= 1, "b is woken once a is back")
            assert a.connected.is_set()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_sockets_keep_receiving_after_the_bus_connection_dies(
    backend: str,
    database_url: str,
    tmp_path: Path,
    make_user: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With the hub's safety-net poll out of the way, only the bus can deliver in time.
    monkeypatch.setattr(hub_module, "POLL_S", NO_POLL_S)
    redis_url = REDIS_URL if backend == "redis" else None
    before = await connections(backend, database_url)
    live = await start_live(database_url, tmp_path, redis_url=redis_url)
    try:
        await until(live.app.state.bus.connected.is_set, "the live server's bus connects")
        ada = await make_user()
        bob = await make_user()
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{live.port}", timeout=TIMEOUT
        ) as http:
            api = Api(http)
            channel = await api.create_channel(ada, "bus", members=(bob,))
            stream = Stream()
            async with connect(f"http://127.0.0.1:{live.port}", bob.access_token) as ws:
                await next_frame(ws, "hello")
                sent = [(await api.send(ada, channel["id"], "before"))["id"]]
                await stream.read_until(ws, lambda: sent[-1] in stream.messages, PROMPTLY)

                cut = await cut_connections(backend, database_url, before)
                # Sent while the bus is (likely) still away: the catch-up on reconnect.
                sent.append((await api.send(ada, channel["id"], "during"))["id"])
                await stream.read_until(ws, lambda: sent[-1] in stream.messages, PROMPTLY)
                await until(live.app.state.bus.connected.is_set, "the bus is back")
                assert not cut & await connections(backend, database_url)
                # And live again, over the new connection.
                for text in ("after", "and after"):
                    sent.append((await api.send(ada, channel["id"], text))["id"])
                    await stream.read_until(ws, lambda: sent[-1] in stream.messages, PROMPTLY)
                await stream.quiet(ws, 0.3)
            assert stream.messages == sent
    finally:
        await stop_live(live)


# -- Redis: channel names ------------------------------------------------------------------


def prefixed_bus(database_url: str, prefix: str | None, redis_url: str = REDIS_URL) -> Bus:
    return make_bus(database_url=database_url, redis_url=redis_url, redis_prefix=prefix)


def new_prefix() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize("naming", ["setting", "database"])
async def test_redis_buses_hear_only_their_own_deployment(
    naming: str, database_url: str, server_url: str
) -> None:
    """One Redis, two deployments: told apart by NCHAT_REDIS_PREFIX (which wins over the
    database: one prefix joins buses on two databases), or with no setting by database."""
    async with throwaway_database(server_url) as elsewhere:
        if naming == "setting":
            prefix = new_prefix()
            a = prefixed_bus(database_url, prefix)
            same = prefixed_bus(elsewhere, prefix)
            other = prefixed_bus(database_url, new_prefix())
        else:
            a, same = prefixed_bus(database_url, None), prefixed_bus(database_url, None)
            other = prefixed_bus(elsewhere, None)
        heard_same, heard_other = Recorder(), Recorder()
        same.listen(heard_same)
        other.listen(heard_other)
        async with started(a, same, other):
            heard_same.heard.clear()
            heard_other.heard.clear()
            token = uuid.uuid4().hex
            await a.publish(EPHEMERAL, f"{token}:a")
            await a.publish(EVENTS)
            await until(lambda: heard_same.payloads(token) == [f"{token}:a"], "same hears a")
            await until(lambda: heard_same.wakes() >= 1, "same hears a's wake-up")
            # Redis has passed a's messages on before this one (same hears them already), so
            # once other hears itself it would have heard a too, had it been subscribed.
            await other.publish(EPHEMERAL, f"{token}:other")
            await until(lambda: heard_other.payloads(token) != [], "other hears itself")
            assert heard_other.payloads(token) == [f"{token}:other"]
            assert heard_other.wakes() == 0
            assert heard_same.payloads(token) == [f"{token}:a"]


async def test_redis_channel_names_carry_the_prefix(database_url: str, server_url: str) -> None:
    prefix = new_prefix()
    names = [f"{prefix}:{EVENTS}", f"{prefix}:{EPHEMERAL}"]
    a = prefixed_bus(database_url, prefix)
    client = redis.Redis.from_url(REDIS_URL)
    raw = client.pubsub()
    try:
        await raw.subscribe(*names, EPHEMERAL)
        async with started(a):
            numsub = dict(await client.pubsub_numsub(*names))
            assert numsub == {name.encode(): 2 for name in names}  # a's and raw's
            token = uuid.uuid4().hex
            await a.publish(EPHEMERAL, token)
            await a.publish(EVENTS)
            got: list[tuple[str, str]] = []
            async with asyncio.timeout(PROMPTLY):
                while len(got) < 2:
                    message = await raw.get_message(ignore_subscribe_messages=True, timeout=1)
                    if message and message["type"] == "message":
                        channel, data = message["channel"].decode(), message["data"].decode()
                        if channel in names or data == token:
                            got.append((channel, data))
            assert sorted(got) == sorted([(names[0], ""), (names[1], token)])
    finally:
        await raw.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()
    # Unset, the prefix names the database: the same however it is reached, and another
    # database's differs.
    url = make_url(database_url)
    derived = await database_prefix(database_url)
    assert derived.startswith("nchat:") and derived.endswith(f":{url.database}")
    reached_otherwise = url.update_query_dict({"application_name": "another"})
    assert await database_prefix(reached_otherwise.render_as_string(False)) == derived
    async with throwaway_database(server_url) as elsewhere:
        assert await database_prefix(elsewhere) != derived


# -- Redis: lost and silent connections ----------------------------------------------------


async def test_a_killed_redis_subscription_is_replaced_and_the_readers_catch_up(
    database_url: str,
) -> None:
    before = set(await redis_clients([os.getpid()]))
    prefix = new_prefix()
    a, b = prefixed_bus(database_url, prefix), prefixed_bus(database_url, prefix)
    heard = Recorder()
    b.listen(heard)
    async with started(a, b):
        ours = set(await redis_clients([os.getpid()])) - before
        assert len(ours) == 2, "one pub/sub client per bus in CLIENT LIST"
        heard.heard.clear()
        await kill_redis_clients(ours)  # CLIENT KILL ID, each
        await until(lambda: not b.connected.is_set(), "b notices")
        await until(lambda: a.connected.is_set() and b.connected.is_set(), "both resubscribe")
        assert heard.wakes() >= 1, "back, b wakes its readers to catch up on the log"
        assert not ours & set(await redis_clients([os.getpid()]))
        token = uuid.uuid4().hex
        await a.publish(EPHEMERAL, token)
        await until(lambda: heard.payloads(token) == [token], "a later publish is heard")


async def test_a_redis_connection_that_stops_answering_is_replaced(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No FIN, no reset, no error: only the bus's PING going unanswered shows the loss."""
    monkeypatch.setattr(redis_bus, "PING_S", QUICK_PING_S)
    prefix = new_prefix()
    async with silent_relay() as relay:
        a = prefixed_bus(database_url, prefix, relay.url)
        b = prefixed_bus(database_url, prefix)
        heard = Recorder()
        a.listen(heard)
        async with started(a, b):
            # Quiet but answering its PINGs: kept (each reconnection would wake the readers).
            wakes = heard.wakes()
            await asyncio.sleep(10 * QUICK_PING_S)
            assert heard.wakes() == wakes and a.connected.is_set()

            silenced = relay.silence()
            await until(lambda: not a.connected.is_set(), "a notices the silence")
            await until(a.connected.is_set, "a reconnects")
            assert heard.wakes() > wakes, "back, a wakes its readers to catch up on the log"
            assert len(relay.links) > silenced, "over a new connection"
            token = uuid.uuid4().hex
            await b.publish(EPHEMERAL, token)
            await until(lambda: heard.payloads(token) == [token], "a later publish is heard")


async def test_sockets_catch_up_after_the_redis_connection_goes_silent(
    database_url: str,
    tmp_path: Path,
    make_user: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With the hub's safety-net poll out of the way, only the bus can deliver in time.
    monkeypatch.setattr(hub_module, "POLL_S", NO_POLL_S)
    monkeypatch.setattr(redis_bus, "PING_S", QUICK_PING_S)
    async with silent_relay() as relay:
        # The server publishes through the relay too: its silent pooled connection fails a
        # publish after socket_timeout, and the retry goes out on a new one.
        live = await start_live(database_url, tmp_path, redis_url=f"{relay.url}?socket_timeout=1")
        try:
            await until(live.app.state.bus.connected.is_set, "the live server's bus connects")
            ada = await make_user()
            bob = await make_user()
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{live.port}", timeout=TIMEOUT
            ) as http:
                api = Api(http)
                channel = await api.create_channel(ada, "bus", members=(bob,))
                stream = Stream()
                async with connect(f"http://127.0.0.1:{live.port}", bob.access_token) as ws:
                    await next_frame(ws, "hello")
                    sent = [(await api.send(ada, channel["id"], "before"))["id"]]
                    await stream.read_until(ws, lambda: sent[-1] in stream.messages, PROMPTLY)

                    relay.silence()
                    # Its wake-up is lost on the silent subscription: the catch-up brings it.
                    sent.append((await api.send(ada, channel["id"], "during"))["id"])
                    await stream.read_until(ws, lambda: sent[-1] in stream.messages, PROMPTLY)
                    await until(live.app.state.bus.connected.is_set, "the bus is back")
                    for text in ("after", "and after"):
                        sent.append((await api.send(ada, channel["id"], text))["id"])
                        await stream.read_until(ws, lambda: sent[-1] in stream.messages, PROMPTLY)
                    await stream.quiet(ws, 0.3)
                assert stream.messages == sent
        finally:
            await stop_live(live)
