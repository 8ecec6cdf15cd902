"""`fanout`: send-to-receive latency to 1, 100 and 1,000 WebSocket subscribers in one channel.

The server is `nchat serve` as users run it, on a fresh database, in three setups: one node;
two nodes with the sender on the first and every subscriber on the second, the bus between
them PostgreSQL LISTEN/NOTIFY; the same over Redis pub/sub (skipped when Redis is not
there). Subscribers live in their own processes (so the load generator does not share an
event loop with the measurement of itself) and only timestamp what arrives while measuring
(Recorder); a message's latency is the time from just before its REST send to its arrival on
each socket (one clock: everything runs on this machine). The generator's and the server's
CPU shares during the sends are in the results."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import os
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import psutil
import redis
import uvloop
from rich.console import Console
from rich.table import Table
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.uri import WebSocketURI, parse_uri

from bench import server, synapse, workers
from bench.common import fresh_database, percentiles, write_results

console = Console()
SUBSCRIBER_PROCESSES = 2
RATE_PER_S = 10
HELLO_TIMEOUT_S = 30
REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class Setup:
    key: str
    label: str
    nodes: int
    bus: str

    @property
    def settings(self) -> dict[str, str]:
        return {"redis_url": REDIS_URL} if self.bus == "redis" else {}


SETUPS = (
    Setup("one-node", "1 node", 1, "postgres"),
    Setup("two-nodes-postgres", "2 nodes, PostgreSQL", 2, "postgres"),
    Setup("two-nodes-redis", "2 nodes, Redis", 2, "redis"),
)


def redis_reachable(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


async def _prepare(base: str) -> tuple[str, str, str]:
    """Owner (the sender), a listener user, and a channel both are in."""
    async with httpx.AsyncClient(base_url=base) as client:
        owner = await server.setup_owner(client)
        listener = await server.add_user(client, owner["access_token"], "listener")
        channel = (
            await client.post(
                "/api/channels",
                headers={"Authorization": f"Bearer {owner['access_token']}"},
                json={"name": "fanout", "member_ids": [listener["user"]["id"]]},
            )
        ).json()
        return owner["access_token"], listener["access_token"], channel["id"]


def _subscriber_job(ws_url: str, count: int, signals: workers.Signals) -> None:
    uvloop.run(_subscribe(ws_url, count, signals))
    gc.unfreeze()  # the process takes the next level's job
    gc.enable()


class Recorder(asyncio.Protocol):
    """One subscriber socket. The handshake and the hello go through websockets' sans-I/O
    client; after that every chunk is only kept with its arrival time, and parsed (by the
    same client, so no byte is lost between the two) once the run is over. Reading costs the
    generator next to nothing while it measures, so its own work is not counted as the
    server's latency. Nothing is answered meanwhile: a run must end before the server's
    keepalive gives up on the socket (uvicorn pings after 20 s and waits 20 s more)."""

    def __init__(self, uri: WebSocketURI, hello: asyncio.Future[None]) -> None:
        self.client = ClientProtocol(uri, max_size=None)  # no extensions: no compression
        self.hello = hello
        self.transport: Any = None  # uvloop's transports are not asyncio.Transport
        self.chunks: list[tuple[float, bytes]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.client.send_request(self.client.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        if self.hello.done():
            self.chunks.append((time.time(), data))
            return
        self.client.receive_data(data)
        if self.client.handshake_exc is not None:
            self.hello.set_exception(self.client.handshake_exc)
        elif any(isinstance(e, Frame) for e in self.client.events_received()):
            self.hello.set_result(None)  # the server's first frame is the hello

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.hello.done():
            self.hello.set_exception(exc or ConnectionError("closed before the hello"))

    def arrivals(self) -> list[tuple[str, float]]:
        """(message text, arrival time) of every message.created received."""
        out = []
        for at, chunk in self.chunks:
            self.client.receive_data(chunk)
            for event in self.client.events_received():
                if isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                    frame = orjson.loads(event.data)
                    if frame.get("type") == "event" and frame["event"]["type"] == "message.created":
                        out.append((frame["event"]["data"]["text"], at))
        return out

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.client.send_close(1000)
            self._flush()
            self.transport.close()

    def _flush(self) -> None:
        self.transport.write(b"".join(self.client.data_to_send()))


async def _subscribe(ws_url: str, count: int, signals: workers.Signals) -> None:
    loop = asyncio.get_running_loop()
    uri = parse_uri(ws_url)
    recorders = []
    for _ in range(count):
        hello: asyncio.Future[None] = loop.create_future()
        _, recorder = await loop.create_connection(
            functools.partial(Recorder, uri, hello), uri.host, uri.port
        )
        async with asyncio.timeout(HELLO_TIMEOUT_S):
            await hello
        recorders.append(recorder)
    # The generator's own full garbage collections (hundreds of sockets' objects) would
    # stall its reading and count as server latency: objects made so far live until the
    # end, and the measurement makes no cycles worth collecting.
    gc.collect()
    gc.freeze()
    gc.disable()
    signals.ready.put(count)
    cpu = time.process_time()
    await asyncio.to_thread(signals.stop.get)
    cpu = time.process_time() - cpu
    arrivals = [a for recorder in recorders for a in recorder.arrivals()]
    signals.results.put((arrivals, cpu))
    for recorder in recorders:
        recorder.close()


async def _send(
    base: str, token: str, channel_id: str, messages: int, rate: float
) -> dict[str, float]:
    sent: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base) as client:
        headers = {"Authorization": f"Bearer {token}"}
        # Not timed: the first delivery after a node starts pays for its connections.
        warmup = {"channel_id": channel_id, "text": "warmup"}
        (await client.post("/api/messages", headers=headers, json=warmup)).raise_for_status()
        await asyncio.sleep(0.5)
        for i in range(messages):
            text = f"m{i}"
            sent[text] = time.time()
            r = await client.post(
                "/api/messages", headers=headers, json={"channel_id": channel_id, "text": text}
            )
            r.raise_for_status()
            await asyncio.sleep(1 / rate)
        await asyncio.sleep(1.0)  # let the last deliveries land
    return sent


def _run_level(
    pool: workers.Pool,
    sender: server.Node,
    receiver: server.Node,
    tokens: tuple[str, str, str],
    subscribers: int,
    messages: int,
) -> dict[str, Any]:
    owner_token, listener_token, channel_id = tokens
    ws_url = f"{receiver.ws}/api/ws?token={listener_token}"
    per = [
        subscribers // SUBSCRIBER_PROCESSES + (1 if i < subscribers % SUBSCRIBER_PROCESSES else 0)
        for i in range(SUBSCRIBER_PROCESSES)
    ]
    busy = 0
    for index, n in enumerate(per):
        if n:
            pool.give(index, _subscriber_job, ws_url, n)
            busy += 1
    pool.await_ready(busy)
    nodes = [sender] if sender is receiver else [sender, receiver]
    server_cpu, wall, own_cpu = _server_cpu(nodes), time.time(), time.process_time()
    sent = asyncio.run(_send(sender.base, owner_token, channel_id, messages, rate=RATE_PER_S))
    own_cpu = time.process_time() - own_cpu
    for _ in range(busy):
        pool.signals.stop.put(True)
    wall, server_cpu = time.time() - wall, _server_cpu(nodes) - server_cpu
    latencies: list[float] = []
    subscriber_cpu = 0.0
    for _ in range(busy):
        arrivals, cpu = pool.signals.results.get(timeout=120)
        subscriber_cpu += cpu
        latencies.extend((at - sent[text]) * 1000 for text, at in arrivals if text in sent)
    result = percentiles(latencies) if latencies else {}
    result["expected"] = subscribers * messages
    result["delivered"] = len(latencies)
    # Shares of the whole machine (all cores) while the messages went out.
    capacity = wall * (os.cpu_count() or 1)
    result["generator_cpu_share"] = round((subscriber_cpu + own_cpu) / capacity, 3)
    result["server_cpu_share"] = round(server_cpu / capacity, 3)
    return result


def _server_cpu(nodes: list[server.Node]) -> float:
    """CPU seconds so far of the nodes' processes (and their workers)."""
    total = 0.0
    for node in nodes:
        root = psutil.Process(node.process.pid)
        for proc in (root, *root.children(recursive=True)):
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
    return total


def _run_setup(
    pool: workers.Pool,
    url: str,
    setup: Setup,
    tokens: tuple[str, str, str] | None,
    levels: list[int],
    messages: int,
) -> tuple[dict[str, Any], tuple[str, str, str]]:
    """Every level on one setup; the users and channel are made on the first setup's server
    and serve the later ones (same database, same signing key)."""
    levels_out: dict[str, Any] = {}
    with server.running(url, workers=1, nodes=setup.nodes, **setup.settings) as nodes:
        sender, receiver = nodes[0], nodes[-1]
        tokens = tokens or asyncio.run(_prepare(sender.base))
        for level in levels:
            console.print(
                f"{setup.label}: {level} subscriber(s), {messages} messages at {RATE_PER_S}/s ..."
            )
            levels_out[str(level)] = _run_level(pool, sender, receiver, tokens, level, messages)
    return {"nodes": setup.nodes, "bus": setup.bus, "levels": levels_out}, tokens


def _run_synapse(
    pool: workers.Pool, url: str, database: str, levels: list[int], messages: int
) -> dict[str, Any]:
    """The peer: one sender, subscribers long-polling /sync, all on one user's token as
    nchat's subscribers share one user's sockets."""
    levels_out: dict[str, Any] = {}
    with synapse.running(database, pg_url=url, users=2) as syn:
        for level in levels:
            console.print(
                f"Synapse ({database}): {level} subscriber(s), {messages} messages "
                f"at {RATE_PER_S}/s ..."
            )
            levels_out[str(level)] = synapse.fanout(pool, syn, level, messages, RATE_PER_S)
    return {"nodes": 1, "bus": database, "levels": levels_out}


def _label(key: str) -> str:
    known = {s.key: s.label for s in SETUPS}
    return known.get(key) or f"Synapse ({key.removeprefix('synapse-')})"


def _table(results: dict[str, Any]) -> Table:
    table = Table(
        "setup (bus)", "subscribers", "delivered", "p50 ms", "p99 ms", "max ms", "gen cpu"
    )
    for key, setup in results["setups"].items():
        label = _label(key)
        if "skipped" in setup:
            table.add_row(label, "-", "skipped", "-", "-", "-", "-")
        for i, (level, r) in enumerate(setup.get("levels", {}).items()):
            table.add_row(
                "" if i else label,
                level,
                f"{r['delivered']}/{r['expected']}",
                str(r.get("p50_ms")),
                str(r.get("p99_ms")),
                str(r.get("max_ms")),
                f"{r['generator_cpu_share']:.0%}" if "generator_cpu_share" in r else "-",
            )
        table.add_section()
    return table


def main(args: argparse.Namespace) -> int:
    levels = [1, 100] if args.quick else [1, 100, 1000]
    messages = 10 if args.quick else 50
    results: dict[str, Any] = {"messages": messages, "rate_per_s": RATE_PER_S, "setups": {}}
    tokens: tuple[str, str, str] | None = None
    with workers.pool(SUBSCRIBER_PROCESSES) as pool:
        with fresh_database(args.database_url) as url:
            for setup in SETUPS:
                if setup.bus == "redis" and not redis_reachable(REDIS_URL):
                    note = f"Redis not reachable at {REDIS_URL}"
                    console.print(f"{setup.label}: skipped ({note})")
                    results["setups"][setup.key] = {"skipped": note}
                    continue
                results["setups"][setup.key], tokens = _run_setup(
                    pool, url, setup, tokens, levels, messages
                )
        if not args.no_peer:
            with fresh_database(args.database_url) as url:
                for database in synapse.DATABASES:
                    results["setups"][f"synapse-{database}"] = _run_synapse(
                        pool, url, database, levels, messages
                    )
    console.print(_table(results))
    console.print(f"results written to {write_results('fanout', results, args.output)}")
    return 0
