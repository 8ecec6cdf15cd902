"""`connections`: server memory per idle WebSocket connection, up to 10,000 on one process.

One `nchat serve` (one worker, so uvicorn runs inside the process we started) on a fresh
database. Client processes open idle sockets in steps; after each step the server's RSS is
read. The figure per 1,000 connections is the growth from the empty server, (RSS at N - RSS
at 0) / N * 1000; the total RSS per 1,000 is reported beside it. At the top the sockets are
held across the gateway's heartbeats, then counted, and one message sent through REST must
reach every live socket. Target (issue: realtime): under 100 MB per 1,000 connections."""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import orjson
import psutil
import websockets
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect

from bench import server
from bench.common import fresh_database, percentiles, raise_fd_limit, write_results

console = Console()

STEPS = (0, 1_000, 2_500, 5_000, 7_500, 10_000)
QUICK_STEPS = (0, 500, 1_000)
CLIENT_PROCESSES = 4
QUICK_CLIENT_PROCESSES = 2
QUICK_HEARTBEAT_S = 3
HEARTBEAT_S = 25  # the server's default
# The gateway writes a presence row per socket of a user and aggregates all of them on every
# heartbeat; far more sockets per user than any person has would measure that, not idling.
SOCKETS_PER_USER = 100
# Across all client processes. A handshake costs the server three database transactions
# (token, memberships, presence) on a pool of 20 connections, which the heartbeats of the
# sockets already open need too; more in flight would only queue there.
HANDSHAKES_IN_FLIGHT = 32
OPEN_TIMEOUT_S = 120.0
SETTLE_S = 3.0
QUICK_SETTLE_S = 1.5
PROBE_WAIT_S = 30.0
REPLY_TIMEOUT_S = 900.0
TARGET_MB_PER_1000 = 100
PROBE_TEXT = "connections probe"
PONG = orjson.dumps({"type": "pong"}).decode()


# -- client processes ----------------------------------------------------------------


class Sockets:
    """One client process's share of the connections, each read until it closes."""

    def __init__(self, urls: list[str], in_flight: int) -> None:
        self.urls = urls
        self.gate = asyncio.Semaphore(in_flight)
        self.started = 0
        self.open: set[ClientConnection] = set()
        self.readers: set[asyncio.Task[None]] = set()
        self.closed: Counter[str] = Counter()
        self.failed = 0
        self.error = ""
        self.pongs = 0
        self.heartbeat_s = 0.0
        self.arrivals: list[float] = []

    async def open_more(self, count: int) -> dict[str, Any]:
        urls = [self.urls[(self.started + i) % len(self.urls)] for i in range(count)]
        self.started += count
        outcomes = await asyncio.gather(*map(self._open_one, urls), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        self.failed += len(failures)
        if failures and not self.error:
            self.error = repr(failures[0])
        return self.status()

    async def _open_one(self, url: str) -> None:
        async with self.gate:
            ws = await connect(
                url,
                compression=None,
                # The server's heartbeat is what keeps a socket alive; client pings would
                # only add load. Protocol pings from uvicorn are answered by the library.
                ping_interval=None,
                proxy=None,
                open_timeout=OPEN_TIMEOUT_S,
            )
            hello = orjson.loads(await ws.recv())
        if hello.get("type") != "hello":
            await ws.close()
            raise RuntimeError(f"expected hello, got {hello}")
        self.heartbeat_s = float(hello["heartbeat_s"])
        self.open.add(ws)
        reader = asyncio.create_task(self._read(ws))
        self.readers.add(reader)
        reader.add_done_callback(self.readers.discard)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                frame = orjson.loads(raw)
                kind = frame.get("type")
                if kind == "ping":
                    # The gateway closes a socket it has not heard from in two heartbeats.
                    await ws.send(PONG)
                    self.pongs += 1
                elif kind == "event" and _is_probe(frame["event"]):
                    self.arrivals.append(time.time())
        except websockets.ConnectionClosed:
            pass
        self.open.discard(ws)
        self.closed[str(ws.close_code)] += 1

    def status(self) -> dict[str, Any]:
        return {
            "open": len(self.open),
            "failed": self.failed,
            "error": self.error,
            "closed": dict(self.closed),
            "pongs": self.pongs,
            "heartbeat_s": self.heartbeat_s,
            "arrivals": list(self.arrivals),
        }

    def abort(self) -> None:
        """Drop every connection at once: a polite close waits on the server's goodbye."""
        for reader in list(self.readers):
            reader.cancel()
        for ws in self.open:
            ws.transport.abort()


def _is_probe(event: dict[str, Any]) -> bool:
    return bool(event["type"] == "message.created" and event["data"].get("text") == PROBE_TEXT)


def _client_process(urls: list[str], in_flight: int, commands: Any, replies: Any) -> None:
    raise_fd_limit()
    asyncio.run(_obey(urls, in_flight, commands, replies))


async def _obey(urls: list[str], in_flight: int, commands: Any, replies: Any) -> None:
    sockets = Sockets(urls, in_flight)
    while True:
        command, count = await asyncio.to_thread(commands.get)
        if command == "open":
            replies.put(await sockets.open_more(count))
        elif command == "status":
            replies.put(sockets.status())
        else:
            sockets.abort()
            return


class Clients:
    """The client processes; each command is answered once by every process."""

    def __init__(self, count: int, urls: list[str]) -> None:
        ctx = mp.get_context("spawn")
        self.replies: Any = ctx.Queue()
        self.commands: list[Any] = [ctx.Queue() for _ in range(count)]
        self.procs = [
            ctx.Process(
                target=_client_process,
                args=(urls, max(1, HANDSHAKES_IN_FLIGHT // count), queue, self.replies),
            )
            for queue in self.commands
        ]
        for proc in self.procs:
            proc.start()

    def _ask(self, commands: list[tuple[str, int]]) -> list[dict[str, Any]]:
        for queue, command in zip(self.commands, commands, strict=True):
            queue.put(command)
        return [self.replies.get(timeout=REPLY_TIMEOUT_S) for _ in commands]

    def open(self, count: int) -> list[dict[str, Any]]:
        n = len(self.procs)
        return self._ask([("open", count // n + (1 if i < count % n else 0)) for i in range(n)])

    def status(self) -> list[dict[str, Any]]:
        return self._ask([("status", 0)] * len(self.procs))

    def stop(self) -> None:
        for queue, proc in zip(self.commands, self.procs, strict=True):
            if proc.is_alive():
                queue.put(("stop", 0))
        for proc in self.procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()


@contextmanager
def clients(count: int, urls: list[str]) -> Iterator[Clients]:
    started = Clients(count, urls)
    try:
        yield started
    finally:
        started.stop()


# -- the harness ---------------------------------------------------------------------


async def _prepare(base: str, users: int) -> tuple[str, str, list[str]]:
    """The owner's token, a channel every user is in, and one token per user."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        owner = await server.setup_owner(client)
        members = [
            await server.add_user(client, owner["access_token"], f"idle{i}") for i in range(users)
        ]
        channel = await client.post(
            "/api/channels",
            headers={"Authorization": f"Bearer {owner['access_token']}"},
            json={"name": "connections", "member_ids": [m["user"]["id"] for m in members]},
        )
        channel.raise_for_status()
    return owner["access_token"], channel.json()["id"], [m["access_token"] for m in members]


async def _post(base: str, token: str, channel_id: str, text: str) -> float:
    """Send a message; returns when it was sent (the clients' clock is the same)."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        sent = time.time()
        resp = await client.post(
            "/api/messages",
            headers={"Authorization": f"Bearer {token}"},
            json={"channel_id": channel_id, "text": text},
        )
        resp.raise_for_status()
    return sent


def server_rss(proc: psutil.Process) -> int:
    # With one worker uvicorn serves inside `nchat serve` itself; children would be workers.
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


def _mb(n: float) -> float:
    return round(n / 2**20, 1)


def _climb(
    clients: Clients, proc: psutil.Process, steps: tuple[int, ...], settle_s: float
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    current = 0
    for target in steps:
        console.print(f"{target:,} connections ...")
        cpu = _cpu_s(proc)
        start = time.perf_counter()
        if target > current:
            clients.open(target - current)
        seconds = time.perf_counter() - start
        busy = _cpu_s(proc) - cpu
        time.sleep(settle_s)  # let the handshakes' garbage go before reading RSS
        status = clients.status()
        rows.append(
            {
                "connections": target,
                "open": sum(s["open"] for s in status),
                "failed": sum(s["failed"] for s in status),
                "closed": dict(sum((Counter(s["closed"]) for s in status), Counter())),
                "errors": sorted({s["error"] for s in status if s["error"]}),
                "rss_bytes": server_rss(proc),
                "server_fds": proc.num_fds(),
                "connect_s": round(seconds, 2),
                "connects_per_s": round((target - current) / seconds, 1) if target else None,
                "server_cpu_percent": round(busy / seconds * 100, 1) if target else None,
            }
        )
        current = target
    base = rows[0]["rss_bytes"]
    for row in rows:
        # Per socket actually open: any the server dropped no longer cost it memory.
        n = row["open"]
        row["rss_mb"] = _mb(row["rss_bytes"])
        row["mb_per_1000_growth"] = _mb((row["rss_bytes"] - base) / n * 1000) if n else None
        row["mb_per_1000_total"] = _mb(row["rss_bytes"] / n * 1000) if n else None
    return rows


def _hold(clients: Clients, proc: psutil.Process, heartbeats: int) -> dict[str, Any]:
    """Idle across `heartbeats` of the gateway's heartbeats (it drops a silent socket after two)."""
    heartbeat_s = max(s["heartbeat_s"] for s in clients.status())
    hold_s = heartbeats * heartbeat_s + 5
    console.print(
        f"holding for {hold_s:.0f} s ({heartbeats} heartbeat(s) of {heartbeat_s:.0f} s) ..."
    )
    cpu = _cpu_s(proc)
    time.sleep(hold_s)
    busy = _cpu_s(proc) - cpu
    status = clients.status()
    closed: Counter[str] = Counter()
    for s in status:
        closed.update(s["closed"])
    return {
        "hold_s": hold_s,
        "heartbeat_s": heartbeat_s,
        "alive": sum(s["open"] for s in status),
        "closed": dict(closed),
        "pongs": sum(s["pongs"] for s in status),
        "server_cpu_percent_idle": round(busy / hold_s * 100, 1),
        "rss_mb_after_hold": _mb(server_rss(proc)),
        "server_fds_after_hold": proc.num_fds(),
    }


def _probe(clients: Clients, base: str, token: str, channel_id: str, alive: int) -> dict[str, Any]:
    """One message through REST; how many live sockets it reached, and how fast."""
    sent = asyncio.run(_post(base, token, channel_id, PROBE_TEXT))
    deadline = time.monotonic() + PROBE_WAIT_S
    arrivals: list[float] = []
    while time.monotonic() < deadline:
        time.sleep(0.5)
        arrivals = [t for s in clients.status() for t in s["arrivals"]]
        if len(arrivals) >= alive:
            break
    result: dict[str, Any] = {"reached": len(arrivals), "of": alive}
    if arrivals:
        result.update(percentiles([(t - sent) * 1000 for t in arrivals]))
    return result


def _measure(args: argparse.Namespace, url: str) -> dict[str, Any]:
    steps = QUICK_STEPS if args.quick else STEPS
    processes = QUICK_CLIENT_PROCESSES if args.quick else CLIENT_PROCESSES
    users = max(1, steps[-1] // SOCKETS_PER_USER)
    # Quick: heartbeats of 3 s instead of the default 25 s, so holding the sockets across
    # two of them takes 11 s rather than 55.
    heartbeat_s = QUICK_HEARTBEAT_S if args.quick else HEARTBEAT_S
    with server.running(url, workers=1, ws_heartbeat_s=str(heartbeat_s)) as nodes:
        node = nodes[0]
        proc = psutil.Process(node.process.pid)
        console.print(f"creating {users} users ...")
        owner_token, channel_id, tokens = asyncio.run(_prepare(node.base, users))
        urls = [f"{node.ws}/api/ws?token={token}" for token in tokens]
        with clients(processes, urls) as running:
            started = time.perf_counter()
            rows = _climb(running, proc, steps, QUICK_SETTLE_S if args.quick else SETTLE_S)
            connect_s = sum(r["connect_s"] for r in rows)
            held = _hold(running, proc, heartbeats=2)
            probe = _probe(running, node.base, owner_token, channel_id, held["alive"])
            measured_s = time.perf_counter() - started
        teardown = time.perf_counter()
    return {
        "users": users,
        "client_processes": processes,
        "target_mb_per_1000": TARGET_MB_PER_1000,
        "steps": rows,
        "connects_per_s": round(steps[-1] / connect_s, 1),
        **held,
        "probe": probe,
        "measured_s": round(measured_s, 1),
        "teardown_s": round(time.perf_counter() - teardown, 1),
    }


def _cell(value: float | None) -> str:
    return "-" if value is None else str(value)


def _report(results: dict[str, Any]) -> None:
    table = Table(
        "sockets", "open", "RSS MB", "MB/1k growth", "MB/1k total", "fds", "conn/s", "CPU %"
    )
    for row in results["steps"]:
        table.add_row(
            f"{row['connections']:,}",
            f"{row['open']:,}",
            str(row["rss_mb"]),
            _cell(row["mb_per_1000_growth"]),
            _cell(row["mb_per_1000_total"]),
            str(row["server_fds"]),
            _cell(row["connects_per_s"]),
            _cell(row["server_cpu_percent"]),
        )
    console.print(table)
    top = results["steps"][-1]
    probe = results["probe"]
    growth = top["mb_per_1000_growth"]
    verdict = "met" if growth < results["target_mb_per_1000"] else "NOT met"
    console.print(
        f"{results['users']} users, {results['client_processes']} client processes; "
        f"{results['connects_per_s']} connects/s overall; failed connects: {top['failed']} "
        f"{'; '.join(top['errors'])}"
    )
    console.print(
        f"after {results['hold_s']:.0f} s idle: alive {results['alive']:,}/{top['connections']:,}, "
        f"closed {results['closed'] or 'none'}, pongs sent {results['pongs']:,}, "
        f"server CPU {results['server_cpu_percent_idle']}% of a core, "
        f"RSS {results['rss_mb_after_hold']} MB"
    )
    console.print(
        f"probe message reached {probe['reached']:,}/{probe['of']:,} sockets "
        f"(p50 {probe.get('p50_ms')} ms, p99 {probe.get('p99_ms')} ms, "
        f"max {probe.get('max_ms')} ms)"
    )
    console.print(
        f"target < {results['target_mb_per_1000']} MB per 1,000 connections: {verdict} "
        f"({growth} MB growth per 1,000 with {top['open']:,} open)"
    )


def main(args: argparse.Namespace) -> int:
    raise_fd_limit()  # `nchat serve` inherits it
    started = time.perf_counter()
    with fresh_database(args.database_url) as url:
        results = _measure(args, url)
    results["total_s"] = round(time.perf_counter() - started, 1)
    _report(results)
    console.print(f"results written to {write_results('connections', results, args.output)}")
    top = results["steps"][-1]
    return 0 if results["alive"] == top["connections"] and top["failed"] == 0 else 1
