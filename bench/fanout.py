"""`fanout`: send-to-receive latency to 1, 100 and 1,000 WebSocket subscribers in one channel.

The server is `nchat serve` as users run it, on a fresh database, in three setups: one node;
two nodes with the sender on the first and every subscriber on the second, the bus between
them PostgreSQL LISTEN/NOTIFY; the same over Redis pub/sub (skipped when Redis is not
there). Subscribers live in their own processes (so the load generator does not share an
event loop with the measurement of itself); a message's latency is the time from just before
its REST send to its arrival on each socket (one clock: everything runs on this machine)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import redis
import websockets
from rich.console import Console
from rich.table import Table

from bench import server, synapse
from bench.common import fresh_database, percentiles, write_results

console = Console()
SUBSCRIBER_PROCESSES = 2
RATE_PER_S = 10
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


def _subscriber_process(ws_url: str, count: int, ready: Any, results: Any, stop: Any) -> None:
    asyncio.run(_subscribe(ws_url, count, ready, results, stop))


async def _subscribe(ws_url: str, count: int, ready: Any, results: Any, stop: Any) -> None:
    sockets = []
    for _ in range(count):
        ws = await websockets.connect(ws_url, max_size=None, compression=None, proxy=None)
        await ws.recv()  # hello
        sockets.append(ws)
    # The generator's own full garbage collections (hundreds of sockets' objects) would
    # stall its readers for 100 ms and more and count as server latency: objects made so
    # far live until the end, and the measurement makes no cycles worth collecting.
    gc.collect()
    gc.freeze()
    gc.disable()
    ready.put(count)
    arrivals: list[tuple[str, float]] = []

    async def read(ws: Any) -> None:
        while True:
            frame = orjson.loads(await ws.recv())
            if frame.get("type") == "event" and frame["event"]["type"] == "message.created":
                arrivals.append((frame["event"]["data"]["text"], time.time()))

    readers = [asyncio.create_task(read(ws)) for ws in sockets]
    await asyncio.to_thread(stop.get)
    for task in readers:
        task.cancel()
    results.put(arrivals)
    for ws in sockets:
        await ws.close()


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
    sender: server.Node,
    receiver: server.Node,
    tokens: tuple[str, str, str],
    subscribers: int,
    messages: int,
) -> dict[str, Any]:
    owner_token, listener_token, channel_id = tokens
    ctx = mp.get_context("spawn")
    ready, results, stop = ctx.Queue(), ctx.Queue(), ctx.Queue()
    ws_url = f"{receiver.ws}/api/ws?token={listener_token}"
    per = [
        subscribers // SUBSCRIBER_PROCESSES + (1 if i < subscribers % SUBSCRIBER_PROCESSES else 0)
        for i in range(SUBSCRIBER_PROCESSES)
    ]
    procs = [
        ctx.Process(target=_subscriber_process, args=(ws_url, n, ready, results, stop))
        for n in per
        if n
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=300)
    sent = asyncio.run(_send(sender.base, owner_token, channel_id, messages, rate=RATE_PER_S))
    for _ in procs:
        stop.put(True)
    latencies: list[float] = []
    delivered = 0
    for _ in procs:
        for text, at in results.get(timeout=60):
            if text in sent:
                latencies.append((at - sent[text]) * 1000)
                delivered += 1
    for proc in procs:
        proc.join(timeout=30)
    result = percentiles(latencies) if latencies else {}
    result["expected"] = subscribers * messages
    result["delivered"] = delivered
    return result


def _run_setup(
    url: str, setup: Setup, tokens: tuple[str, str, str] | None, levels: list[int], messages: int
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
            levels_out[str(level)] = _run_level(sender, receiver, tokens, level, messages)
    return {"nodes": setup.nodes, "bus": setup.bus, "levels": levels_out}, tokens


def _run_synapse(url: str, database: str, levels: list[int], messages: int) -> dict[str, Any]:
    """The peer: one sender, subscribers long-polling /sync, all on one user's token as
    nchat's subscribers share one user's sockets."""
    levels_out: dict[str, Any] = {}
    with synapse.running(database, pg_url=url, users=2) as syn:
        for level in levels:
            console.print(
                f"Synapse ({database}): {level} subscriber(s), {messages} messages "
                f"at {RATE_PER_S}/s ..."
            )
            levels_out[str(level)] = synapse.fanout(syn, level, messages, RATE_PER_S)
    return {"nodes": 1, "bus": database, "levels": levels_out}


def _label(key: str) -> str:
    known = {s.key: s.label for s in SETUPS}
    return known.get(key) or f"Synapse ({key.removeprefix('synapse-')})"


def _table(results: dict[str, Any]) -> Table:
    table = Table("setup (bus)", "subscribers", "delivered", "p50 ms", "p99 ms", "max ms")
    for key, setup in results["setups"].items():
        label = _label(key)
        if "skipped" in setup:
            table.add_row(label, "-", "skipped", "-", "-", "-")
        for i, (level, r) in enumerate(setup.get("levels", {}).items()):
            table.add_row(
                "" if i else label,
                level,
                f"{r['delivered']}/{r['expected']}",
                str(r.get("p50_ms")),
                str(r.get("p99_ms")),
                str(r.get("max_ms")),
            )
        table.add_section()
    return table


def main(args: argparse.Namespace) -> int:
    levels = [1, 100] if args.quick else [1, 100, 1000]
    messages = 10 if args.quick else 50
    results: dict[str, Any] = {"messages": messages, "rate_per_s": RATE_PER_S, "setups": {}}
    tokens: tuple[str, str, str] | None = None
    with fresh_database(args.database_url) as url:
        for setup in SETUPS:
            if setup.bus == "redis" and not redis_reachable(REDIS_URL):
                note = f"Redis not reachable at {REDIS_URL}"
                console.print(f"{setup.label}: skipped ({note})")
                results["setups"][setup.key] = {"skipped": note}
                continue
            results["setups"][setup.key], tokens = _run_setup(url, setup, tokens, levels, messages)
    if not args.no_peer:
        with fresh_database(args.database_url) as url:
            for database in synapse.DATABASES:
                results["setups"][f"synapse-{database}"] = _run_synapse(
                    url, database, levels, messages
                )
    console.print(_table(results))
    console.print(f"results written to {write_results('fanout', results, args.output)}")
    return 0
