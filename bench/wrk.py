"""HTTP load with `wrk` (the Debian package) and a Lua script: a generator in C, so the
server, not the generator, is what gets measured. The harness reports wrk's own CPU share."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

LUA = Path(__file__).with_name("lua")
MARKER = "WRK-RESULT "

# Appended to every script: wrk calls done() once at the end with its own statistics.
DONE = (
    """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f}\\n',
    '"""
    + MARKER
    + """', summary.requests, summary.duration, summary.bytes, e.connect,
    e.read, e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""
)


def available() -> bool:
    return shutil.which("wrk") is not None


def lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal here


def lua_list(values: list[str]) -> str:
    return "{" + ", ".join(lua_string(v) for v in values) + "}"


@dataclass(frozen=True)
class Load:
    connections: int
    seconds: float
    threads: int = 2
    rate: float | None = None  # total requests/s across connections; None: as fast as it goes


def run(url: str, script: str, load: Load, **params: str) -> dict[str, Any]:
    """Run wrk with `bench/lua/<script>.lua`; `params` become Lua globals (already literals).

    Returns wrk's figures in ms and requests/s, plus the generator's CPU share."""
    preamble = "".join(f"{name} = {value}\n" for name, value in params.items())
    if load.rate is not None:
        # Each connection waits this long between requests: wrk's delay() hook.
        preamble += f"DELAY_MS = {1000 * load.connections / load.rate:.3f}\n"
    body = (LUA / f"{script}.lua").read_text()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(preamble + body + DONE)
        path = f.name
    try:
        cmd = [
            "wrk",
            f"-t{load.threads}",
            f"-c{load.connections}",
            f"-d{load.seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            path,
            url,
        ]
        started = time.monotonic()
        proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cpu = _cpu_until_exit(proc)
        out, err = proc.communicate()
        wall = time.monotonic() - started
    finally:
        Path(path).unlink()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {err or out}")
    return _parse(out, cpu, wall)


def _cpu_until_exit(proc: psutil.Popen) -> float:
    """CPU seconds the process used; sampled until it exits (the last sample is close)."""
    used = 0.0
    while proc.poll() is None:
        try:
            times = proc.cpu_times()
            used = times.user + times.system
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
    return used


def _parse(out: str, cpu_s: float, wall_s: float) -> dict[str, Any]:
    line = next((ln for ln in out.splitlines() if ln.startswith(MARKER)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out}")
    raw = json.loads(line[len(MARKER) :])
    seconds = raw["duration_us"] / 1e6
    errors = sum(
        raw[k]
        for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    cores = psutil.cpu_count() or 1
    return {
        "requests": raw["requests"],
        "errors": errors,
        "status_errors": raw["status_errors"],
        "seconds": round(seconds, 2),
        "rps": round(raw["requests"] / seconds, 1) if seconds else 0.0,
        "mean_ms": round(raw["mean_us"] / 1000, 2),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p90_ms": round(raw["p90_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "max_ms": round(raw["max_us"] / 1000, 2),
        # Share of the whole machine's CPU that the generator itself used.
        "generator_cpu_share": round(cpu_s / (wall_s * cores), 3) if wall_s else 0.0,
    }
