"""Fan-out across real processes: two `nchat serve` nodes on one database (over the
PostgreSQL bus and over Redis), a node killed mid-stream and its client resuming on the
other node, one node with two worker processes, and a node outliving a database restart.

Every process is a real child, killed (with its children) in `finally`; every database is a
throwaway one, dropped after."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from nchat.db.embedded import EmbeddedPostgres
from tests.fixtures.processes import Server, embedded_data_dir, nchat_env, process_gone
from tests.realtime.nodes import (
    REDIS_URL,
    SECRET,
    TIMEOUT,
    Stream,
    connect,
    eventually,
    healthy,
    next_frame,
    pg_bus_backends,
    redis_clients,
    running,
    send,
    serving_process,
    set_up_team,
    throwaway_database,
    workers,
)


@pytest.mark.parametrize("bus", ["postgres", "redis"])
async def test_two_nodes_fan_out_and_a_client_survives_its_node(
    bus: str, server_url: str, tmp_path: Path
) -> None:
    extra = {"NCHAT_SECRET_KEY": SECRET}
    if bus == "redis":
        extra["NCHAT_REDIS_URL"] = REDIS_URL
    async with throwaway_database(server_url) as url:
        with (
            running(nchat_env(tmp_path / "a", url, **extra), tmp_path / "a.log") as a,
            running(nchat_env(tmp_path / "b", url, **extra), tmp_path / "b.log") as b,
        ):
            await healthy(a, b)

            # Each node listens on the configured bus, and only there.
            async def listening() -> bool:
                if bus == "postgres":
                    return len(await pg_bus_backends(url)) == 2
                return len(await redis_clients([a.pid, b.pid])) == 2

            await eventually(listening, what=f"both nodes on the {bus} bus")
            if bus == "redis":
                assert await pg_bus_backends(url) == set()

            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                team = await set_up_team(http, a.url)
                sent: list[str] = []
                stream = Stream()
                missed = asyncio.Event()
                reconnected = asyncio.Event()

                async with connect(b.url, team.member_token) as ws:
                    await next_frame(ws, "hello")
                    # The client offered permessage-deflate; off by default (decision 0017).
                    assert ws.protocol.extensions == []
                    # Sent on A, delivered on B: one at a time, each the next message seen.
                    for i in range(5):
                        sent.append(await send(http, a.url, team, f"m{i}"))
                        await stream.read_until(ws, lambda: len(stream.messages) == len(sent))
                        assert stream.messages == sent

                    async def chatter() -> None:
                        for i in range(5, 30):
                            if i == 15:  # some sent while the client is away
                                missed.set()
                            if i == 20:  # and the rest once it is back
                                await reconnected.wait()
                            sent.append(await send(http, a.url, team, f"m{i}"))
                            await asyncio.sleep(0.03)

                    writer = asyncio.create_task(chatter())
                    try:
                        await stream.read_until(ws, lambda: len(stream.messages) >= 8)
                        await asyncio.to_thread(b.kill)  # SIGKILL, mid-stream
                        assert b.process.returncode == -signal.SIGKILL
                        # The client notices the drop (and keeps what arrived before it).
                        await stream.read_until_closed(ws)
                        async with asyncio.timeout(TIMEOUT):
                            await missed.wait()
                    except BaseException:
                        writer.cancel()
                        raise

                assert stream.cursor is not None
                since = stream.cursor
                try:
                    async with connect(a.url, team.member_token, since=since) as ws:
                        assert (await next_frame(ws, "hello"))["cursor"] == since
                        reconnected.set()
                        await writer  # (the socket buffers meanwhile)
                        await stream.read_until(ws, lambda: sent[-1] in stream.messages)
                        await stream.quiet(ws)
                finally:
                    writer.cancel()

            assert len(sent) == 30
            # Every message exactly once, in the order it was sent: nothing lost while the
            # client moved from B to A, nothing replayed twice.
            assert stream.messages == sent, (a.output(), b.output())
            assert a.process.poll() is None, a.output()


async def test_workers_of_one_node_all_deliver(server_url: str, tmp_path: Path) -> None:
    async with throwaway_database(server_url) as url:
        env = nchat_env(
            tmp_path / "data", url, NCHAT_SECRET_KEY=SECRET, NCHAT_WS_COMPRESSION="true"
        )
        with running(env, tmp_path / "serve.log", args=("--workers", "2")) as server:
            await healthy(server)
            procs = workers(server)
            assert len(procs) == 2, server.output()

            async def both_listening() -> bool:
                return len(await pg_bus_backends(url)) == 2  # a bus per worker

            await eventually(both_listening, what="a bus connection per worker")

            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                team = await set_up_team(http, server.url)
                async with contextlib.AsyncExitStack() as stack:
                    clients: list[ClientConnection] = []
                    served_by: set[int] = set()
                    # Connections until both workers have some (the kernel picks the worker).
                    while len(served_by) < 2 or len(clients) < 4:
                        assert len(clients) < 40, f"all connections went to {served_by}"
                        ws = await stack.enter_async_context(connect(server.url, team.member_token))
                        await next_frame(ws, "hello")
                        assert [e.name for e in ws.protocol.extensions] == ["permessage-deflate"]
                        pid = serving_process(procs, server.port, ws.local_address[1])
                        served_by.add(pid)
                        clients.append(ws)

                    sent: list[str] = []
                    for i in range(4):
                        # A new HTTP connection each: any worker may take the write.
                        async with httpx.AsyncClient(timeout=TIMEOUT) as once:
                            sent.append(await send(once, server.url, team, f"w{i}"))
                    for ws in clients:
                        stream = Stream()
                        await stream.read_messages(ws, 4)
                        await stream.quiet(ws, 0.2)
                        assert stream.messages == sent
            assert all(p.is_running() for p in procs), server.output()
        # The workers went with their node.
        assert not [p for p in procs if not process_gone(p, timeout=5)]


async def wait_for_output(server: Server, text: str) -> None:
    async def said() -> bool:
        return text in server.output()

    await eventually(said, what=f"{text!r} in the log of nchat serve")


async def test_node_outlives_a_database_restart(tmp_path: Path) -> None:
    with embedded_data_dir() as data_dir:
        embedded = EmbeddedPostgres(data_dir, database="nchat")
        url = await asyncio.to_thread(embedded.start)
        try:
            env = nchat_env(tmp_path / "node", url, NCHAT_SECRET_KEY=SECRET)
            with running(env, tmp_path / "serve.log") as node:
                await healthy(node)
                async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                    team = await set_up_team(http, node.url)
                    live = Stream()
                    async with connect(node.url, team.member_token) as ws:
                        await next_frame(ws, "hello")
                        first = await send(http, node.url, team, "before")
                        await live.read_until(ws, lambda: len(live.messages) == 1)
                        assert live.messages == [first]
                        resume_from = live.cursor
                        assert resume_from is not None

                        await asyncio.to_thread(embedded.stop)
                        down = await http.get(f"{node.url}/api/health")
                        assert down.status_code == 503, down.text
                        lost = await http.post(
                            f"{node.url}/api/messages",
                            headers=team.owner,
                            json={"channel_id": team.channel_id, "text": "while down"},
                        )
                        assert lost.status_code >= 500, lost.text
                        # Down long enough for the bus and the hub to fail and retry.
                        await wait_for_output(node, "bus connection failed; retrying")
                        await wait_for_output(node, "event log read failed; retrying")
                        await asyncio.to_thread(embedded.start)
                        await healthy(node)  # it reconnects by itself

                        second = await send(http, node.url, team, "after")
                        # The socket opened before the restart keeps receiving...
                        await live.read_until(ws, lambda: len(live.messages) == 2)
                        assert live.messages == [first, second]
                    # ... and a client resuming from before the restart catches up once.
                    resumed = Stream()
                    async with connect(node.url, team.member_token, since=resume_from) as ws:
                        await next_frame(ws, "hello")
                        await resumed.read_until(ws, lambda: second in resumed.messages)
                        await resumed.quiet(ws)
                    assert resumed.messages == [second]
                assert node.process.poll() is None, node.output()
        finally:
            await asyncio.to_thread(embedded.stop)
