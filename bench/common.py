"""What every scenario needs: a fresh database, machine facts, percentiles, result files."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from nchat.db import migrate
from nchat.db.embedded import EmbeddedPostgres


@contextmanager
def fresh_database(url: str | None) -> Iterator[str]:
    """The given database, or a new embedded PostgreSQL in a temp dir; migrated to head."""
    if url:
        migrate.upgrade(url)
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="nchat-bench-") as tmp:
        embedded = EmbeddedPostgres(Path(tmp), database="nchat_bench")
        try:
            url = embedded.start()
            migrate.upgrade(url)
            yield url
        finally:
            embedded.stop()


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "speed_probe_ms": speed_probe_ms(),
    }


def speed_probe_ms() -> float:
    """A fixed piece of pure-Python work, timed (best of three): shared machines run at
    different speeds hour to hour, and this says how fast this one ran when the figures
    beside it were taken (lower is faster). Only comparable on the same Python."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 1)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive")
    return {
        "n": len(ordered),
        "p50_ms": round(cuts[49], 3),
        "p90_ms": round(cuts[89], 3),
        "p99_ms": round(cuts[98], 3),
        "max_ms": round(ordered[-1], 3),
    }


def write_results(name: str, results: dict[str, Any], output: str | None) -> Path:
    path = Path(output or f"bench-results-{name}.json")
    payload = {
        "scenario": name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        **results,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def raise_fd_limit() -> None:
    """Thousands of sockets: the soft open-files limit up to the hard one (children, the
    server among them, inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def tree_cpu_seconds(process: psutil.Process) -> float:
    """CPU seconds used by a process and its children (workers) so far."""
    total = 0.0
    for proc in [process, *process.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def cpu_share(cpu_s: float, wall_s: float) -> float:
    """CPU seconds over a wall-clock window, as a share of the whole machine."""
    return round(cpu_s / (wall_s * (psutil.cpu_count() or 1)), 3) if wall_s else 0.0
