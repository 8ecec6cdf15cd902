"""`fanout`: send-to-receive latency to 1, 100 and 1,000 WebSocket subscribers in one channel.

The server is `nchat serve` as users run it, on a fresh database. Subscribers live in their
own processes (so the load generator does not share an event loop with the measurement of
itself); a message's latency is the time from just before its REST send to its arrival on
each socket (one clock: everything runs on this machine)."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
from typing import Any

import httpx
import orjson
import websockets
from rich.console import Console
from rich.table import Table

from bench import server
from bench.common import fresh_database, percentiles, write_results

console = Console()
SUBSCRIBER_PROCESSES = 2


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
        ws = await websockets.connect(ws_url, max_size=None, compression=None)
        await ws.recv()  # hello
        sockets.append(ws)
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
    base: str, tokens: tuple[str, str, str], subscribers: int, messages: int
) -> dict[str, Any]:
    owner_token, listener_token, channel_id = tokens
    ctx = mp.get_context("spawn")
    ready, results, stop = ctx.Queue(), ctx.Queue(), ctx.Queue()
    ws_url = base.replace("http", "ws") + f"/api/ws?token={listener_token}"
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
    sent = asyncio.run(_send(base, owner_token, channel_id, messages, rate=10))
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


def main(args: argparse.Namespace) -> int:
    levels = [1, 10, 100] if args.quick else [1, 100, 1000]
    messages = 20 if args.quick else 50
    results: dict[str, Any] = {"levels": {}}
    with fresh_database(args.database_url) as url, server.running(url, workers=1) as nodes:
        base = nodes[0].base
        tokens = asyncio.run(_prepare(base))
        for level in levels:
            console.print(f"{level} subscriber(s), {messages} messages at 10/s ...")
            results["levels"][str(level)] = _run_level(base, tokens, level, messages)
    table = Table("subscribers", "delivered", "p50 ms", "p99 ms", "max ms")
    for level, r in results["levels"].items():
        table.add_row(
            level,
            f"{r['delivered']}/{r['expected']}",
            str(r.get("p50_ms")),
            str(r.get("p99_ms")),
            str(r.get("max_ms")),
        )
    console.print(table)
    console.print(f"results written to {write_results('fanout', results, args.output)}")
    return 0
