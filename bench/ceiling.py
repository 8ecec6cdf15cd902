"""`ceiling`: how many concurrent simulated users one node serves while it stays healthy.

Healthy, as Mattermost's load tests define it: mean request latency under 100 ms, p99 under
2 s, errors under 0.025 %. Users are added step by step until a step breaks one of the three;
the result is the last step that met all of them.

A simulated user holds one WebSocket (reads every frame, answers the gateway's pings, sends a
presence frame on connect and again every heartbeat, subscribes to the presence of 50 of
the people in its channels) and, after an exponentially distributed
think time, does one action picked by weight, as Mattermost's simulated users do (their
SwitchChannel 6.5, ScrollChannel 2, CreatePost 1, ReconnectWebSocket 0.14):

- switch channel: the newest 50 messages of one of their channels, then mark the newest read;
- scroll back: the 50 before the oldest message they have loaded;
- post: a typing frame on the socket, then the message;
- reconnect: close the socket and resume from the last event cursor with `?since=`.

The think time is exponential with a mean of 20 s, the mean of Mattermost's default
simulated user (uniform 1 s to 39 s), so the result compares with their published figures.
Requests are HTTP requests and socket (re)connects up to the hello frame; latency is taken at
the client, so it includes the generator's own delays. The generator runs in separate
processes on this machine and competes with the server for the cores: each step reports the
CPU share of generator, server, database and everything else, and the generator's event-loop
lag, and says when the generator, not the server, may be the limit.

Tokens are minted through nchat's own session function, with the key the server is given,
instead of signing in: argon2 for thousands of users would take longer than the test."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import multiprocessing as mp
import os
import random
import ssl
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import sqlalchemy as sa
import uvloop
from rich.console import Console
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from bench import seed, server
from bench.common import fresh_database, percentiles, raise_fd_limit, write_results
from nchat.accounts.service import do_start_session
from nchat.config import Settings
from nchat.db.engine import create_engine
from nchat.tables.channels import channel_members
from nchat.tables.users import users as user_rows

console = Console()

# Mattermost's default simulated user waits 1 s to 39 s (mean 20 s); its published
# supported-users figures are by that pacing, so this one is too.
THINK_MEAN_S = 20.0
ACTIONS = ("switch", "scroll", "post", "reconnect")
WEIGHTS = (6.5, 2.0, 1.0, 0.15)
PAGE = 50
MEAN_MS_LIMIT = 100.0
P99_MS_LIMIT = 2000.0
ERROR_RATE_LIMIT = 0.00025
GENERATORS = 2
# An HTTP client per this many users, each with as many connections: httpx's pool costs
# grow with the square of its size, and a browser, too, has connections of its own.
USERS_PER_CLIENT = 16
KEEPALIVE_S = 3.0  # under uvicorn's 5 s, so a reused connection is never one it is closing
REQUEST_TIMEOUT_S = 10.0
# The server is given this key, so tokens minted here verify there; they outlive any run.
SECRET_KEY = "bench-ceiling-" + "k" * 40
TOKEN_TTL_S = 6 * 3600
LAG_TICK_S = 0.1
HOT_CORE = 0.9  # a generator process at this share of one core is saturated
HOT_LAG_MS = 50.0  # event-loop lag (p99) above this delays the generator's own timing
OTHER_NOTE = 0.2  # CPU share of other work on the machine worth a note under the results
QUEUE_TIMEOUT_S = 120.0
BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq", "steal")
# Frames go as text (str): the gateway reads text frames only, and a binary one ends the socket.
PRESENCE = '{"type":"presence","status":"online"}'
# A client subscribes to the presence of the people its screen shows (the DM list, the open
# channel's members): here this many of the user's fellow channel members.
WATCH = 50
PONG = '{"type":"pong"}'
_TLS = ssl.create_default_context()


@dataclass(frozen=True)
class Plan:
    size: seed.Size
    steps: tuple[int, ...]
    ramp_s: float  # new users connect evenly over this time
    settle_s: float  # then the connect burst (and its presence fan-out) dies down
    hold_s: float  # the measured window
    think_mean_s: float = THINK_MEAN_S


QUICK = Plan(
    seed.Size(users=300, channels=40, messages=20_000, main_user_channels=4),
    steps=(150, 300),
    ramp_s=2.0,
    settle_s=1.0,
    hold_s=8.0,
)
FULL = Plan(
    seed.Size(users=3_000, channels=200, messages=200_000, main_user_channels=20),
    steps=tuple(range(250, 3_001, 250)),
    ramp_s=5.0,
    settle_s=5.0,
    hold_s=30.0,
)

# The seeder puts users in about 5% of the channels; on a small seed some are in none.
ENSURE_MEMBERSHIP = """
INSERT INTO nchat_channel_members (channel_id, user_id)
SELECT c.id, u.id FROM nchat_users AS u
CROSS JOIN LATERAL (SELECT id FROM nchat_channels ORDER BY id
                    OFFSET abs(hashtext(u.username)::bigint) % {channels} LIMIT 1) AS c
WHERE NOT EXISTS (SELECT 1 FROM nchat_channel_members AS m WHERE m.user_id = u.id)
"""
MEMBER_COUNTS = """
UPDATE nchat_channels AS c SET member_count =
  (SELECT count(*) FROM nchat_channel_members AS m WHERE m.channel_id = c.id)
"""


@dataclass(frozen=True)
class SimUser:
    token: str
    channels: tuple[str, ...]
    watch: str  # the presence_subscribe frame: people its screen shows


async def make_users(url: str, count: int, channels: int) -> list[SimUser]:
    """user1..user<count>, each with a live session, and the channels they belong to."""
    settings = Settings(
        database_url=url,
        data_dir=Path(tempfile.gettempdir()),
        secret_key=SECRET_KEY,
        access_token_ttl_s=TOKEN_TTL_S,
        log_level="error",
    )
    names = [f"user{i}" for i in range(1, count + 1)]
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(ENSURE_MEMBERSHIP.format(channels=channels)))
            await conn.execute(sa.text(MEMBER_COUNTS))
            query = sa.select(user_rows).where(user_rows.c.username.in_(names))
            by_name = {row["username"]: row for row in (await conn.execute(query)).mappings()}
            cm = channel_members.c
            member_of: dict[Any, list[str]] = defaultdict(list)
            members: dict[str, list[str]] = defaultdict(list)
            for user_id, channel_id in await conn.execute(sa.select(cm.user_id, cm.channel_id)):
                member_of[user_id].append(str(channel_id))
                members[str(channel_id)].append(str(user_id))
            made = []
            pick = random.Random(0)
            for name in names:
                row = by_name[name]
                tokens = await do_start_session(
                    conn, row, settings=settings, user_agent="bench-ceiling", ip="127.0.0.1"
                )
                mine = tuple(member_of[row["id"]])
                people = sorted({u for c in mine for u in members[c]} - {str(row["id"])})
                watch = pick.sample(people, min(WATCH, len(people)))
                frame = orjson.dumps({"type": "presence_subscribe", "user_ids": watch}).decode()
                made.append(SimUser(tokens.access_token, mine, frame))
            return made
    finally:
        await engine.dispose()


# -- the generator (runs in its own processes) -------------------------------------------


@dataclass
class Recorder:
    """What one generator process saw in a window. Requests are HTTP requests and socket
    (re)connects; a socket that drops is an error but no request."""

    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    frames: Counter[str] = field(default_factory=Counter)
    lag_ms: list[float] = field(default_factory=list)
    connected: int = 0

    def fail(self, kind: str, what: str, detail: str, ms: float | None = None) -> None:
        key = f"{kind} {what}"
        if ms is not None:
            self.latencies_ms[kind].append(ms)
        self.errors[key] += 1
        self.examples.setdefault(key, detail[:500])

    def take(self, connected: int) -> Recorder:
        """The window so far; a new one begins. New containers, because what is handed out
        is pickled later, by the queue's own thread."""
        window = replace(self, latencies_ms=dict(self.latencies_ms), connected=connected)
        self.latencies_ms, self.errors, self.examples = defaultdict(list), Counter(), {}
        self.frames, self.lag_ms = Counter(), []
        return window

    def absorb(self, other: Recorder) -> None:
        for kind, samples in other.latencies_ms.items():
            self.latencies_ms[kind] += samples
        self.errors.update(other.errors)
        self.examples = other.examples | self.examples
        self.frames.update(other.frames)
        self.lag_ms += other.lag_ms
        self.connected += other.connected


def frame_type(raw: str | bytes) -> str:
    """The frame's type without parsing it all: the server writes "type" first. Most frames
    are other people's presence and typing, and parsing every one would make the generator,
    not the server, the thing measured."""
    text = raw if isinstance(raw, str) else raw.decode()
    head = '{"type":"'
    end = text.find('"', len(head)) if text.startswith(head) else -1
    if end > 0:
        return text[len(head) : end]
    frame = orjson.loads(text)
    return str(frame.get("type")) if isinstance(frame, dict) else "?"


def _since(start: float) -> float:
    return (time.perf_counter() - start) * 1000


@dataclass(frozen=True)
class Shared:
    """What the users of one generator process share."""

    ws_base: str
    rec: Recorder
    think_s: float


class User:
    def __init__(self, sim: SimUser, shared: Shared, client: httpx.AsyncClient):
        self.sim, self.client, self.ws_base = sim, client, shared.ws_base
        self.rec, self.think_s = shared.rec, shared.think_s
        self.headers = {"Authorization": f"Bearer {sim.token}"}
        self.ws: ClientConnection | None = None
        self.tasks: list[asyncio.Task[None]] = []
        self.cursor: str | None = None
        self.channel = random.choice(sim.channels)
        self.oldest: str | None = None
        self.arrived = asyncio.Event()  # the first connect is over, whatever its outcome

    async def run(self, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.guarded("connect")
        self.arrived.set()
        while True:
            await asyncio.sleep(random.expovariate(1 / self.think_s))
            if self.ws is None:  # dropped since the last action: a client reconnects
                await self.guarded("connect")
            await self.guarded(random.choices(ACTIONS, WEIGHTS)[0])

    async def guarded(self, action: str) -> None:
        try:
            await getattr(self, action)()
        except Exception as exc:  # a surprise, or a bug in the harness: count it, carry on
            self.rec.fail(action, type(exc).__name__, repr(exc))

    # -- the socket --------------------------------------------------------------------
    async def connect(self) -> None:
        url = f"{self.ws_base}/api/ws?token={self.sim.token}"
        if self.cursor:
            url += f"&since={self.cursor}"
        start = time.perf_counter()
        ws: ClientConnection | None = None
        try:
            # No protocol pings: the gateway has its own ping frames.
            ws = await connect(url, compression=None, proxy=None, ping_interval=None)
            async with asyncio.timeout(REQUEST_TIMEOUT_S):
                hello = orjson.loads(await ws.recv())
            if hello.get("type") != "hello":
                raise ValueError(hello)
        except InvalidStatus as exc:
            body = exc.response.body.decode(errors="replace") if exc.response.body else ""
            self.rec.fail("ws", str(exc.response.status_code), body, _since(start))
        except (OSError, TimeoutError, ValueError, WebSocketException) as exc:
            code = f"closed-{ws.close_code}" if isinstance(exc, ConnectionClosed) and ws else ""
            self.rec.fail("ws", code or type(exc).__name__, repr(exc), _since(start))
        else:
            self.rec.latencies_ms["ws"].append(_since(start))
            self.cursor, self.ws = hello["cursor"], ws
            with contextlib.suppress(ConnectionClosed):  # if so, the reader counts the close
                await ws.send(PRESENCE)
                await ws.send(self.sim.watch)
            self.tasks = [
                asyncio.create_task(self._read(ws)),
                asyncio.create_task(self._heartbeat(ws, float(hello["heartbeat_s"]))),
            ]
            return
        if ws is not None:
            await ws.close()

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                kind = frame_type(raw)
                self.rec.frames[kind] += 1
                if kind == "event":
                    self.cursor = orjson.loads(raw)["event"]["id"]
                elif kind == "ping":
                    await ws.send(PONG)
                elif kind == "resync_required":
                    self.rec.fail("socket", "resync_required", str(raw))
        if self.ws is ws:  # not closed by us
            self.ws = None
            self.rec.fail("socket", f"closed-{ws.close_code}", str(ws.close_reason))

    async def _heartbeat(self, ws: ClientConnection, every_s: float) -> None:
        """Presence "still here", as an open client keeps saying."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(every_s * random.uniform(0.8, 1.0))
                await ws.send(PRESENCE)

    async def disconnect(self) -> None:
        ws, self.ws = self.ws, None
        tasks, self.tasks = self.tasks, []
        if ws is not None:
            await ws.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the actions -------------------------------------------------------------------
    async def switch(self) -> None:
        self.channel = random.choice(self.sim.channels)
        page = await self.page("switch", before=None)
        if page:
            self.oldest = page[-1]["id"]
            read = {"message_id": page[0]["id"]}
            await self.request("read", "POST", f"/api/channels/{self.channel}/read", json=read)

    async def scroll(self) -> None:
        if self.oldest is None:  # at the top already, or nothing loaded yet
            await self.switch()
            return
        page = await self.page("scroll", before=self.oldest)
        self.oldest = page[-1]["id"] if page else None

    async def post(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self.ws.send(f'{{"type":"typing","channel_id":"{self.channel}"}}')
        text = f"ceiling {random.getrandbits(32):08x}: a line of chat, about as long as most"
        body = {"channel_id": self.channel, "text": text}
        await self.request("post", "POST", "/api/messages", json=body)

    async def reconnect(self) -> None:
        await self.disconnect()
        await self.connect()

    async def page(self, kind: str, *, before: str | None) -> list[dict[str, Any]]:
        params = {"limit": str(PAGE)} | ({"before": before} if before else {})
        path = f"/api/channels/{self.channel}/messages"
        body = await self.request(kind, "GET", path, params=params)
        messages: list[dict[str, Any]] = body["messages"] if body else []
        return messages

    async def request(self, kind: str, method: str, path: str, **kw: Any) -> dict[str, Any] | None:
        start = time.perf_counter()
        try:
            resp = await self.client.request(method, path, headers=self.headers, **kw)
        except httpx.HTTPError as exc:
            what = "timeout" if isinstance(exc, httpx.TimeoutException) else type(exc).__name__
            self.rec.fail(kind, what, repr(exc), _since(start))
            return None
        ms = _since(start)
        if not resp.is_success:
            self.rec.fail(kind, str(resp.status_code), f"{method} {path}: {resp.text}", ms)
            return None
        self.rec.latencies_ms[kind].append(ms)
        body: dict[str, Any] = orjson.loads(resp.content)
        return body


async def _watch_lag(rec: Recorder) -> None:
    """How late the event loop wakes up: a busy generator delays its own measurements."""
    while True:
        start = time.perf_counter()
        await asyncio.sleep(LAG_TICK_S)
        rec.lag_ms.append(max(0.0, (time.perf_counter() - start - LAG_TICK_S) * 1000))


def generator_process(
    base: str, think_s: float, sims: list[SimUser], commands: Any, results: Any
) -> None:
    raise_fd_limit()
    # httpcore asks for sniffio on every request; when it is not installed, each ask is an
    # import that fails after searching sys.path (a fifth of the generator's CPU). A None
    # entry makes the import fail at once, with the same outcome.
    if importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]
    uvloop.run(_generate(base, think_s, sims, commands, results))


async def _generate(
    base: str, think_s: float, sims: list[SimUser], commands: Any, results: Any
) -> None:
    rec = Recorder()
    shared = Shared(base.replace("http", "ws", 1), rec, think_s)
    people: list[User] = []
    tasks = [asyncio.create_task(_watch_lag(rec))]
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(_client(base))
            for _ in range(0, len(sims), USERS_PER_CLIENT)
        ]
        results.put("ready")
        while True:
            command, arg = await asyncio.to_thread(commands.get)
            if command == "grow":  # arg: (users wanted here, ramp seconds)
                first = len(people)
                new = [
                    User(sim, shared, clients[(first + i) // USERS_PER_CLIENT])
                    for i, sim in enumerate(sims[first : arg[0]])
                ]
                people += new
                tasks += [
                    asyncio.create_task(p.run(arg[1] * i / len(new))) for i, p in enumerate(new)
                ]
                await asyncio.gather(*(p.arrived.wait() for p in new))
                results.put("grown")
            elif command == "collect":
                results.put(rec.take(sum(p.ws is not None for p in people)))
            else:
                break
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(p.disconnect() for p in people), return_exceptions=True)


def _client(base: str) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=USERS_PER_CLIENT,
        max_keepalive_connections=USERS_PER_CLIENT,
        keepalive_expiry=KEEPALIVE_S,
    )
    # One TLS context for all (plain HTTP never uses it): making one per client costs 25 ms.
    return httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S, limits=limits, verify=_TLS)


# -- the harness -------------------------------------------------------------------------


@dataclass
class Generators:
    """The generator processes, driven in lock step: a command to each, then every reply."""

    procs: list[Any]
    commands: list[Any]
    results: Any

    @classmethod
    def start(cls, base: str, think_s: float, sims: list[SimUser]) -> Generators:
        ctx = mp.get_context("spawn")
        results = ctx.Queue()
        commands = [ctx.Queue() for _ in range(GENERATORS)]
        # Interleaved, so every step's users are spread evenly over the processes.
        procs = [
            ctx.Process(
                target=generator_process, args=(base, think_s, sims[i::GENERATORS], q, results)
            )
            for i, q in enumerate(commands)
        ]
        for proc in procs:
            proc.start()
        for _ in procs:
            results.get(timeout=QUEUE_TIMEOUT_S)
        return cls(procs, commands, results)

    def ask(self, command: str, args: list[Any] | None = None) -> list[Any]:
        for i, queue in enumerate(self.commands):
            queue.put((command, args[i] if args else None))
        return [self.results.get(timeout=QUEUE_TIMEOUT_S) for _ in self.commands]

    def stop(self) -> None:
        for queue in self.commands:
            queue.put(("stop", None))
        for proc in self.procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
                proc.join()


def cpu_seconds(root: psutil.Process | None) -> dict[int, float]:
    """CPU seconds of a process tree, keyed by pid because processes come and go. Under
    -pid, what a process's exited children used: short-lived backends (autovacuum, say)
    are gone before the window ends, but their parent has reaped their time."""
    out: dict[int, float] = {}
    with contextlib.suppress(psutil.Error):
        for proc in [root, *root.children(recursive=True)] if root else []:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                out[proc.pid] = t.user + t.system
                out[-proc.pid] = t.children_user + t.children_system
    return out


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    # A process first seen at the end started within the window: all its time counts.
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


@dataclass
class Meters:
    """Who used the CPU in a window, as shares of the whole machine (all cores)."""

    generators: list[psutil.Process]
    server: psutil.Process
    database: psutil.Process | None

    def read(self) -> dict[str, Any]:
        machine = psutil.cpu_times()
        # Not the guest fields: Linux counts them in user already. Steal is busy: the
        # hypervisor gave the time to someone else.
        busy = sum(getattr(machine, k, 0.0) for k in BUSY_FIELDS)
        return {
            "gen": [cpu_seconds(p) for p in self.generators],
            "server": cpu_seconds(self.server),
            "db": cpu_seconds(self.database),
            "busy": busy,
            "total": busy + machine.idle + getattr(machine, "iowait", 0.0),
            "wall": time.monotonic(),
        }

    @staticmethod
    def shares(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        """Shares of the whole machine; "other" is whatever else ran meanwhile."""
        wall, cores = after["wall"] - before["wall"], os.cpu_count() or 1
        per_gen = [cpu_used(b, a) for b, a in zip(before["gen"], after["gen"], strict=True)]
        seconds = {
            "generator": sum(per_gen),
            "server": cpu_used(before["server"], after["server"]),
            "db": cpu_used(before["db"], after["db"]),
        }
        total = after["total"] - before["total"]
        machine = (after["busy"] - before["busy"]) / total if total else 0.0
        shares = {f"{k}_share": v / wall / cores for k, v in seconds.items()}
        shares["other_share"] = max(0.0, machine - sum(shares.values()))
        shares["machine_busy_share"] = machine
        return {k: round(v, 3) for k, v in shares.items()} | {
            "cpu_seconds": {k: round(v, 2) for k, v in seconds.items()},
            "generator_process_core_share": [round(g / wall, 3) for g in per_gen],
        }


async def postmaster(url: str) -> psutil.Process | None:
    """The database's postmaster when it runs on this machine (its backends are children)."""
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            pid = await conn.scalar(sa.text("SELECT pg_backend_pid()"))
        return psutil.Process(int(pid)).parent()
    except psutil.Error:
        return None
    finally:
        await engine.dispose()


def latency_summary(samples: list[float]) -> dict[str, float]:
    if len(samples) < 2:
        return {"n": len(samples)}
    cuts = percentiles(samples)
    return {"n": len(samples), "mean_ms": round(statistics.fmean(samples), 2)} | {
        k: cuts[k] for k in ("p50_ms", "p99_ms", "max_ms")
    }


def broken(overall: dict[str, float], error_rate: float) -> list[str]:
    """The healthy thresholds a window missed."""
    if "mean_ms" not in overall:  # no percentiles from one request: no service either
        return [f"{overall['n']:.0f} requests"]
    missed = [
        (overall["mean_ms"] >= MEAN_MS_LIMIT, f"mean {overall['mean_ms']:.0f} ms"),
        (overall["p99_ms"] >= P99_MS_LIMIT, f"p99 {overall['p99_ms']:.0f} ms"),
        (error_rate >= ERROR_RATE_LIMIT, f"errors {error_rate:.3%}"),
    ]
    return [text for miss, text in missed if miss]


def step_result(users: int, window_s: float, seen: Recorder) -> dict[str, Any]:
    every = [ms for samples in seen.latencies_ms.values() for ms in samples]
    overall = latency_summary(every)
    errors = sum(seen.errors.values())
    error_rate = errors / len(every) if every else 1.0
    return {
        "users": users,
        "connected": seen.connected,
        "requests": len(every),
        "requests_per_s": round(len(every) / window_s, 1),
        **{k: v for k, v in overall.items() if k != "n"},
        "errors": errors,
        "error_rate": round(error_rate, 6),
        "broke": broken(overall, error_rate),
        "by_kind": {k: latency_summary(v) for k, v in sorted(seen.latencies_ms.items())},
        "error_kinds": dict(seen.errors),
        "error_examples": seen.examples,
        "frames_per_s": {k: round(v / window_s, 1) for k, v in seen.frames.most_common()},
        "generator_lag_p99_ms": latency_summary(seen.lag_ms).get("p99_ms", 0.0),
    }


def generator_bound(step: dict[str, Any]) -> str | None:
    """Why this step may have measured the generator rather than the server, if it may."""
    hot = max(step["generator_process_core_share"])
    if hot >= HOT_CORE:
        return f"a generator process used {hot:.0%} of a core"
    if step["generator_lag_p99_ms"] >= HOT_LAG_MS:
        return f"the generator's event loop ran {step['generator_lag_p99_ms']:.0f} ms late (p99)"
    return None


def run_step(gens: Generators, meters: Meters, plan: Plan, users: int) -> dict[str, Any]:
    here = [users // GENERATORS + (1 if i < users % GENERATORS else 0) for i in range(GENERATORS)]
    started = time.monotonic()
    gens.ask("grow", [(n, plan.ramp_s) for n in here])
    ramp_s = time.monotonic() - started
    time.sleep(plan.settle_s)
    gens.ask("collect")  # the ramp's own requests are not part of the step
    before = meters.read()
    time.sleep(plan.hold_s)
    seen = Recorder()
    for window in gens.ask("collect"):
        seen.absorb(window)
    after = meters.read()
    step = step_result(users, after["wall"] - before["wall"], seen)
    step |= Meters.shares(before, after)
    step |= {"healthy": not step["broke"], "ramp_s": round(ramp_s, 1)}
    # What a request costs the server and its database, whoever else wants the CPU: the
    # figure that carries over to a quiet machine.
    served = step["cpu_seconds"]["server"] + step["cpu_seconds"]["db"]
    step["server_db_cpu_ms_per_request"] = round(1000 * served / max(1, step["requests"]), 2)
    step["generator_bound"] = generator_bound(step)
    return step


def run_steps(url: str, plan: Plan, sims: list[SimUser]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    db = asyncio.run(postmaster(url))
    with server.running(url, workers=os.cpu_count() or 1, secret_key=SECRET_KEY) as nodes:
        gens = Generators.start(nodes[0].base, plan.think_mean_s, sims)
        try:
            procs = [psutil.Process(p.pid) for p in gens.procs]
            meters = Meters(procs, psutil.Process(nodes[0].process.pid), db)
            for index, users in enumerate(plan.steps, 1):
                console.print(f"step {index}: {users} users ...")
                steps.append(run_step(gens, meters, plan, users))
                console.print(row_text(steps[-1]))
                if not steps[-1]["healthy"]:
                    break
        finally:
            gens.stop()
    return steps


# -- output ------------------------------------------------------------------------------


def _ms(step: dict[str, Any], key: str) -> str:
    return f"{step[key]:.1f}" if key in step else "-"


def row_text(step: dict[str, Any]) -> str:
    verdict = "healthy" if step["healthy"] else f"[red]unhealthy: {', '.join(step['broke'])}[/red]"
    bound = f"; [yellow]{step['generator_bound']}[/yellow]" if step["generator_bound"] else ""
    return (
        f"  {step['requests_per_s']} req/s, mean {_ms(step, 'mean_ms')} ms, "
        f"p99 {_ms(step, 'p99_ms')} ms, errors {step['errors']}: {verdict}{bound}"
    )


def steps_table(steps: list[dict[str, Any]]) -> Table:
    shares = ("generator", "server", "db", "other")
    out = Table(
        *("users", "sockets", "req/s", "mean ms", "p99 ms", "errors", "healthy"),
        *(f"{name} cpu" for name in shares),
        "gen lag p99",
        "cpu ms/req",
    )
    for s in steps:
        out.add_row(
            str(s["users"]),
            str(s["connected"]),
            f"{s['requests_per_s']:.0f}",
            _ms(s, "mean_ms"),
            _ms(s, "p99_ms"),
            f"{s['errors']} ({s['error_rate']:.3%})",
            "yes" if s["healthy"] else "[red]no[/red]",
            *(f"{s[f'{name}_share']:.0%}" for name in shares),
            f"{s['generator_lag_p99_ms']:.0f} ms",
            f"{s['server_db_cpu_ms_per_request']:.1f}",
        )
    return out


def kinds_table(step: dict[str, Any]) -> Table:
    out = Table("request", "n", "mean ms", "p50 ms", "p99 ms", title=f"at {step['users']} users")
    for kind, r in step["by_kind"].items():
        out.add_row(kind, str(r["n"]), _ms(r, "mean_ms"), _ms(r, "p50_ms"), _ms(r, "p99_ms"))
    return out


def errors_table(steps: list[dict[str, Any]]) -> Table:
    out = Table("users", "error", "count", "first body", title="errors")
    for s in steps:
        for kind, n in s["error_kinds"].items():
            out.add_row(str(s["users"]), kind, str(n), s["error_examples"].get(kind, "")[:300])
    return out


def verdict(plan: Plan, steps: list[dict[str, Any]]) -> dict[str, Any]:
    broke = next((s for s in steps if not s["healthy"]), None)
    if broke is None:
        reason = f"every step was healthy, up to the plan's top of {plan.steps[-1]}"
    else:
        reason = f"at {broke['users']} users: {', '.join(broke['broke'])}"
    return {
        "supported_users": max((s["users"] for s in steps if s["healthy"]), default=0),
        "at_top_of_plan": broke is None,
        "stopped_because": reason,
        "generator_bound_steps": [s["users"] for s in steps if s["generator_bound"]],
        "other_cpu_share_max": max((s["other_share"] for s in steps), default=0.0),
    }


def report(outcome: dict[str, Any], steps: list[dict[str, Any]]) -> None:
    console.print(steps_table(steps))
    if steps:
        console.print(kinds_table(steps[-1]))
    if any(s["error_kinds"] for s in steps):
        console.print(errors_table(steps))
    if outcome["generator_bound_steps"]:
        at = ", ".join(map(str, outcome["generator_bound_steps"]))
        console.print(
            f"[yellow]the generator was busy or short of CPU at {at} users: those latencies "
            "include its own delays (run it on another machine to see past it)[/yellow]"
        )
    if outcome["other_cpu_share_max"] >= OTHER_NOTE:
        console.print(
            f"[yellow]other work used up to {outcome['other_cpu_share_max']:.0%} of this "
            "machine's CPU meanwhile: a quiet machine would support more users[/yellow]"
        )
    more = "+" if outcome["at_top_of_plan"] else ""
    console.print(
        f"supported users: {outcome['supported_users']}{more} ({outcome['stopped_because']})"
    )


def main(args: argparse.Namespace) -> int:
    plan = QUICK if args.quick else FULL
    raise_fd_limit()  # the server inherits it
    started = time.perf_counter()
    with fresh_database(args.database_url) as url:
        size = plan.size
        console.print(
            f"seeding {size.messages:,} messages in {size.channels:,} channels "
            f"for {size.users:,} users ..."
        )
        asyncio.run(seed.seed(url, size, server.PASSWORD))
        sims = asyncio.run(make_users(url, plan.steps[-1], size.channels))
        setup_s = time.perf_counter() - started
        console.print(f"seeded, with {len(sims):,} sessions, in {setup_s:.1f} s")
        steps = run_steps(url, plan, sims)
    outcome = verdict(plan, steps)
    report(outcome, steps)
    results = {
        **outcome,
        "thresholds": {
            "mean_ms": MEAN_MS_LIMIT,
            "p99_ms": P99_MS_LIMIT,
            "error_rate": ERROR_RATE_LIMIT,
        },
        "weights": dict(zip(ACTIONS, WEIGHTS, strict=True)),
        "generators": GENERATORS,
        "plan": {k: v for k, v in plan.__dict__.items() if k != "size"},
        "size": plan.size.__dict__,
        "setup_seconds": round(setup_s, 1),
        "total_seconds": round(time.perf_counter() - started, 1),
        "steps": steps,
    }
    console.print(f"results written to {write_results('ceiling', results, args.output)}")
    return 0
