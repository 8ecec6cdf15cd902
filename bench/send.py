"""`send`: N concurrent senders posting to one busy channel (and to many channels) for T
seconds, driven by `wrk`; then the same load held at half the measured maximum for its p99.
The database's limit for the same SQL is measured with pgbench in the same run."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from rich.console import Console
from rich.table import Table

from bench import pgbench, server, synapse, wrk
from bench.common import cpu_share, fresh_database, tree_cpu_seconds, write_results
from nchat.config import default_workers
from nchat.db.engine import libpq_url

console = Console(width=120)
CONNECTIONS = 16
SPREAD_CHANNELS = 100


async def _prepare(base: str, senders: int, *, spread: bool = True) -> dict[str, Any]:
    """`senders` users, all members of one busy channel and (with `spread`) of
    SPREAD_CHANNELS others."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        owner = await server.setup_owner(client)
        headers = {"Authorization": f"Bearer {owner['access_token']}"}
        users = [
            await server.add_user(client, owner["access_token"], f"sender{i}")
            for i in range(senders)
        ]
        member_ids = [u["user"]["id"] for u in users]

        async def channel(name: str) -> str:
            resp = await client.post(
                "/api/channels", headers=headers, json={"name": name, "member_ids": member_ids}
            )
            resp.raise_for_status()
            channel_id: str = resp.json()["id"]
            return channel_id

        busy = await channel("busy")
        others = [await channel(f"spread-{i}") for i in range(SPREAD_CHANNELS if spread else 0)]
    return {"tokens": [u["access_token"] for u in users], "busy": busy, "spread": others}


def _session_of(token: str) -> tuple[str, str]:
    """(user id, session id) from an access token's claims; the harness trusts its own."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims["sub"], claims["sid"]


def _load(
    base: str, process: psutil.Process, load: wrk.Load, channels: list[str], tokens: list[str]
) -> dict[str, Any]:
    before, started = tree_cpu_seconds(process), time.monotonic()
    result = wrk.run(
        base,
        "nchat_send",
        load,
        TOKENS=wrk.lua_list(tokens),
        CHANNELS=wrk.lua_list(channels),
    )
    wall = time.monotonic() - started
    result["server_cpu_share"] = cpu_share(tree_cpu_seconds(process) - before, wall)
    return result


async def _fetchval(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


MESSAGE_ROWS = "SELECT count(*) FROM nchat_messages"


def measure_nchat(url: str, seconds: float, *, spread: bool = True) -> dict[str, Any]:
    """The busy channel, and with `spread` the same senders over SPREAD_CHANNELS channels."""
    # The server as the README starts it: serve's default number of workers.
    results: dict[str, Any] = {"workers": default_workers(), "connections": CONNECTIONS}
    with server.running(url, workers=None) as nodes:
        node = nodes[0]
        prepared = asyncio.run(_prepare(node.base, CONNECTIONS, spread=spread))
        process = psutil.Process(node.process.pid)
        tokens = prepared["tokens"]
        cases = {"busy_channel": [prepared["busy"]]}
        if spread:
            cases["spread_channels"] = prepared["spread"]
        for case, channels in cases.items():
            console.print(f"nchat send, {case}: {CONNECTIONS} connections for {seconds:g} s ...")
            before = asyncio.run(_fetchval(url, MESSAGE_ROWS))
            peak = _load(node.base, process, wrk.Load(CONNECTIONS, seconds), channels, tokens)
            peak["rows_written"] = asyncio.run(_fetchval(url, MESSAGE_ROWS)) - before
            console.print(f"  ... at half of {peak['rps']:.0f}/s ...")
            half = _load(
                node.base,
                process,
                wrk.Load(CONNECTIONS, seconds, rate=max(1.0, peak["rps"] / 2)),
                channels,
                tokens,
            )
            results[case] = {"max": peak, "half_load": half}
        user_id, session_id = _session_of(tokens[0])
    results["pgbench_vars"] = {"user": user_id, "session": session_id, "channel": prepared["busy"]}
    return results


def measure_floor(url: str, seconds: float, variables: dict[str, str]) -> dict[str, Any]:
    """bench/floor_app.py under uvicorn, same workers and load as nchat's busy channel."""
    workers = default_workers()
    port = server.free_port()
    env = {
        **os.environ,
        "FLOOR_DATABASE_URL": libpq_url(url),
        "FLOOR_USER_ID": variables["user"],
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    cmd = [sys.executable, "-m", "uvicorn", "bench.floor_app:app", "--port", str(port)]
    cmd += ["--workers", str(workers), "--log-level", "error", "--no-access-log"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(_wait_port(base))
        console.print(f"bare FastAPI + asyncpg floor: {CONNECTIONS} connections ...")
        load = wrk.Load(CONNECTIONS, seconds)
        channels = [variables["channel"]]
        return _load(base, psutil.Process(proc.pid), load, channels, ["-"])
    finally:
        server.stop(proc)


async def _wait_port(base: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                await client.get(f"{base}/docs")
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
    raise RuntimeError("the floor app did not start")


def measure_synapse(
    url: str, seconds: float, databases: tuple[str, ...], *, half_load: bool = True
) -> dict[str, Any]:
    """The peer server under the same load: one room, the same number of senders; then at
    half its maximum (`half_load`) for its p99 there."""
    out: dict[str, Any] = {}
    for database in databases:
        console.print(f"Synapse ({database}) send: {CONNECTIONS} connections ...")
        with synapse.running(database, pg_url=url, users=CONNECTIONS) as syn:
            peak = synapse.send(syn, wrk.Load(CONNECTIONS, seconds))
            out[database] = {"max": peak}
            if half_load:
                half = wrk.Load(CONNECTIONS, seconds, rate=max(1.0, peak["rps"] / 2))
                out[database]["half_load"] = synapse.send(syn, half)
    return out


def measure_pgbench(
    url: str, seconds: float, variables: dict[str, str], scripts: tuple[str, ...]
) -> dict[str, Any]:
    version = int(asyncio.run(_fetchval(url, "SHOW server_version_num")))
    out: dict[str, Any] = {}
    for script in scripts:
        console.print(f"pgbench {script}: {CONNECTIONS} clients, one channel, {seconds:g} s ...")
        out[script] = pgbench.run(
            url,
            script,
            clients=CONNECTIONS,
            seconds=seconds,
            server_version_num=version,
            variables=variables,
        )
    out["server_version_num"] = version
    return out


def main(args: argparse.Namespace) -> int:
    if not wrk.available():
        console.print("wrk is not installed (Debian: apt-get install wrk)")
        return 1
    seconds = 5.0 if args.quick else 20.0
    # The quick run keeps to what the targets compare, to stay short: the busy channel,
    # pgbench's writes, Synapse's maximum.
    scripts = ("send_writes",) if args.quick else pgbench.SCRIPTS
    with fresh_database(args.database_url) as url:
        nchat = measure_nchat(url, seconds, spread=not args.quick)
        variables = nchat.pop("pgbench_vars")
        floor = measure_floor(url, seconds, variables)
        reference = measure_pgbench(url, seconds, variables, scripts)
        peer = (
            {}
            if args.no_peer
            else measure_synapse(url, seconds, synapse.DATABASES, half_load=not args.quick)
        )
    results: dict[str, Any] = {
        "seconds": seconds,
        "nchat": nchat,
        "floor": floor,
        "pgbench": reference,
        "synapse": peer,
    }
    busy = nchat["busy_channel"]["max"]["rps"]
    results["ratios"] = {
        f"nchat_busy_vs_pgbench_{s}": round(busy / reference[s]["tps"], 3)
        for s in scripts
        if reference[s]["tps"]
    }
    if floor["rps"]:
        results["ratios"]["nchat_busy_vs_bare_fastapi"] = round(busy / floor["rps"], 3)
    for database, r in peer.items():
        if r["max"]["rps"]:
            results["ratios"][f"nchat_busy_vs_synapse_{database}"] = round(
                busy / r["max"]["rps"], 2
            )
    _print(results)
    console.print(f"results written to {write_results('send', results, args.output)}")
    return 0


def _row(table: Table, label: str, r: dict[str, Any], rows: str = "") -> None:
    """One load's line: an HTTP load measured with wrk (server and generator CPU)."""
    table.add_row(
        label,
        f"{r['rps']:.0f}",
        str(r["p50_ms"]),
        str(r["p99_ms"]),
        str(r["errors"]),
        rows,
        f"{r['server_cpu_share']:.0%}",
        f"{r['generator_cpu_share']:.0%}",
    )


def _print(results: dict[str, Any]) -> None:
    table = Table("load", "req/s", "p50 ms", "p99 ms", "errors", "rows", "server CPU", "wrk CPU")
    nchat = results["nchat"]
    for case in ("busy_channel", "spread_channels"):
        if case not in nchat:
            continue
        for phase in ("max", "half_load"):
            r = nchat[case][phase]
            _row(table, f"nchat {case} {phase}", r, str(r.get("rows_written", "")))
    _row(table, "bare FastAPI+asyncpg (busy)", results["floor"])
    for database, phases in results["synapse"].items():
        for phase, r in phases.items():
            _row(table, f"Synapse ({database}) one room {phase}", r)
    for script in pgbench.SCRIPTS:
        r = results["pgbench"].get(script)
        if r is None:
            continue
        table.add_row(
            f"pgbench {script} (busy channel)",
            f"{r['tps']:.0f}",
            str(r["p50_ms"]),
            str(r["p99_ms"]),
            str(r["failed"]),
            "",
            "",
            "",
        )
    console.print(table)
    for name, ratio in results["ratios"].items():
        console.print(f"{name}: {ratio:.2f}")
