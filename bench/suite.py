"""`all`: every scenario in turn, then one table of the figures that have targets.

`--quick` runs each scenario small (the targets are for the full sizes; quick runs show the
harness works and the ratios hold). Results go to bench-results-<scenario>.json beside a
summary in bench-results-all.json (or into the directory given by --output)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench import ceiling, connections, fanout, history, send
from bench.common import speed_probe_ms, write_results

console = Console(width=120)

SCENARIOS: dict[str, Callable[[argparse.Namespace], int]] = {
    "history": history.main,
    "send": send.main,
    "fanout": fanout.main,
    "connections": connections.main,
    "ceiling": ceiling.main,
}


def main(args: argparse.Namespace) -> int:
    folder = Path(args.output) if args.output else Path()
    folder.mkdir(parents=True, exist_ok=True)
    outcome: dict[str, Any] = {"quick": args.quick, "scenarios": {}}
    started = time.perf_counter()
    for name, run in SCENARIOS.items():
        console.rule(name)
        path = folder / f"bench-results-{name}.json"
        began = time.perf_counter()
        code = run(argparse.Namespace(**{**vars(args), "output": str(path)}))
        outcome["scenarios"][name] = {
            "exit_code": code,
            "seconds": round(time.perf_counter() - began, 1),
            "results": str(path),
        }
    outcome["seconds"] = round(time.perf_counter() - started, 1)
    rows = targets(folder)
    outcome["targets"] = rows
    console.rule("summary")
    console.print(_table(rows))
    console.print(
        f"all scenarios in {outcome['seconds']:.0f} s; "
        f"machine speed probe {speed_probe_ms()} ms (lower is faster)"
    )
    summary = write_results("all", outcome, str(folder / "bench-results-all.json"))
    console.print(f"summary written to {summary}")
    return max((s["exit_code"] for s in outcome["scenarios"].values()), default=0)


def _load(folder: Path, name: str) -> dict[str, Any]:
    path = folder / f"bench-results-{name}.json"
    loaded: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    return loaded


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def targets(folder: Path) -> list[dict[str, Any]]:
    """(what, figure, target, met) for every figure the issues set a target for."""
    h, s, f = _load(folder, "history"), _load(folder, "send"), _load(folder, "fanout")
    c, ce = _load(folder, "connections"), _load(folder, "ceiling")
    rows: list[tuple[str, Any, str, Callable[[Any], bool]]] = [
        ("history page p99 ms", _get(h, "history_latest_50", "p99_ms"), "< 10", lambda v: v < 10),
        (
            "channel list p99 ms (500 channels; quick: 50)",
            _get(h, "channel_list_500", "p99_ms"),
            "< 10",
            lambda v: v < 10,
        ),
        (
            "channel list p99 ms, 10 messages written before each",
            _get(h, "channel_list_500_after_writes", "p99_ms"),
            "< 10",
            lambda v: v < 10,
        ),
        (
            "send msgs/s, one busy channel",
            _get(s, "nchat", "busy_channel", "max", "rps"),
            "-",
            lambda v: True,
        ),
        (
            "send / Synapse (SQLite)",
            _get(s, "ratios", "nchat_busy_vs_synapse_sqlite"),
            ">= 10",
            lambda v: v >= 10,
        ),
        (
            "send / Synapse (PostgreSQL)",
            _get(s, "ratios", "nchat_busy_vs_synapse_postgresql"),
            ">= 10",
            lambda v: v >= 10,
        ),
        (
            "send / pgbench (writes)",
            _get(s, "ratios", "nchat_busy_vs_pgbench_send_writes"),
            ">= 0.30",
            lambda v: v >= 0.30,
        ),
        (
            "send / bare FastAPI floor",
            _get(s, "ratios", "nchat_busy_vs_bare_fastapi"),
            "-",
            lambda v: True,
        ),
        (
            "send p99 ms at half load",
            _get(s, "nchat", "busy_channel", "half_load", "p99_ms"),
            "< 25",
            lambda v: v < 25,
        ),
        (
            "fanout p99 ms, most subscribers, 1 node",
            _top_level_p99(f, "one-node"),
            "< 50",
            lambda v: v < 50,
        ),
        (
            "fanout p99 ms, most subscribers, 2 nodes",
            _top_level_p99(f, "two-nodes-postgres"),
            "< 50",
            lambda v: v < 50,
        ),
        ("idle sockets MB per 1,000", _last_growth(c), "< 100", lambda v: v < 100),
        ("ceiling: supported users", _get(ce, "supported_users"), ">= 2,000", lambda v: v >= 2000),
    ]
    out = []
    for what, value, target, ok in rows:
        out.append(
            {
                "what": what,
                "value": value,
                "target": target,
                "met": None if value is None else ok(value),
            }
        )
    ceiling_row = next(row for row in out if row["what"].startswith("ceiling"))
    if _get(ce, "at_top_of_plan") and ceiling_row["met"] is False:
        # Every step was healthy: the plan ended below the target, the server did not.
        ceiling_row.update(value=f"{ceiling_row['value']}+", met=None)
    return out


def _top_level_p99(fanout_results: dict[str, Any], setup: str) -> Any:
    levels = _get(fanout_results, "setups", setup, "levels") or {}
    if not levels:
        return None
    top = max(levels, key=int)
    return _get(levels, top, "p99_ms")


def _last_growth(results: dict[str, Any]) -> Any:
    steps = results.get("steps") or []
    return steps[-1].get("mb_per_1000_growth") if steps else None


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table("figure", "value", "target", "met")
    for row in rows:
        met = {True: "yes", False: "NO", None: "-"}[row["met"]]
        table.add_row(
            row["what"], "-" if row["value"] is None else str(row["value"]), row["target"], met
        )
    return table
