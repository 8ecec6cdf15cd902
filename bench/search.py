"""`search`: message search for user1 on the history seed, newest first and best first.

The same database as `history` (bench/seed.py: user1 is a member of 500 of the 1,000
channels; of the others half are public, which user1 may read, and half private, whose
messages every search must leave out) and the same in-process timing around the ASGI call.
Each query shape draws its words from the seed's vocabulary (bench/seed.py TOPICS,
SUBJECTS, RARE_WORDS), so successive requests are not one cached page. Non-prefix queries
end with a space: the query language takes the last word of a query without one as a prefix
being typed.

Then every statement a request of each shape runs on `nchat_messages` is captured from the
app's engine and explained with its own parameters (EXPLAIN ANALYZE on a connection of its
own, and the generic plan PostgreSQL may switch to for a prepared statement), and the app's
connections are asked how often they ran each search statement with a generic plan."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench import seed
from bench.common import fresh_database, percentiles, write_results
from bench.history import PASSWORD, Timed
from nchat.app import create_app
from nchat.config import Settings
from nchat.db.engine import libpq_url

console = Console()

SORTS = ("recent", "relevance")
TARGET_MS = {"recent": 30.0, "relevance": 100.0}
WARMUP = 20
COMMON = seed.TOPICS + seed.SUBJECTS
# The words every seeded message has besides its topic, subject and number.
FIXED_WORDS: tuple[str, ...] = (
    "message", "about", "the", "with", "some", "markdown", "text", "like", "people", "write",
)  # fmt: skip
# Three letters of a topic found in no other word of any message: a prefix (and a substring,
# which search also tries) that matches one topic, about 5% of messages.
PREFIXES = tuple(
    topic[:3]
    for topic in seed.TOPICS
    if sum(topic[:3] in word for word in (*COMMON, *seed.RARE_WORDS, *FIXED_WORDS)) == 1
)

Shape = Callable[[random.Random, seed.Size], str]
SHAPES: dict[str, tuple[str, Shape]] = {
    "rare_word": (
        f"one of {len(seed.RARE_WORDS)} rare words, {seed.RARE_EACH} messages each",
        lambda rng, size: f"{rng.choice(seed.RARE_WORDS)} ",
    ),
    "common_word": (
        f"one of {len(COMMON)} words, each in about 5% of messages",
        lambda rng, size: f"{rng.choice(COMMON)} ",
    ),
    "two_words": (
        "a subject and a topic, about 0.25% of messages",
        lambda rng, size: f"{rng.choice(seed.SUBJECTS)} {rng.choice(seed.TOPICS)} ",
    ),
    "phrase": (
        'a quoted "topic subject", about 0.25% of messages',
        lambda rng, size: f'"{rng.choice(seed.TOPICS)} {rng.choice(seed.SUBJECTS)}" ',
    ),
    "from_user_word": (
        "from:@userN and a 5% word, about 50 messages at full size",
        lambda rng, size: f"from:@user{rng.randint(2, size.users)} {rng.choice(COMMON)} ",
    ),
    "prefix_3": (
        "three letters of a topic being typed, about 5% of messages",
        lambda rng, size: rng.choice(PREFIXES),
    ),
}

READABLE = """
SELECT (SELECT count(*) FROM nchat_channel_members m JOIN nchat_users u ON u.id = m.user_id
        WHERE u.username = 'user1') AS member_channels,
       (SELECT count(*) FROM nchat_channels WHERE type = 'public') AS public_channels,
       (SELECT count(*) FROM nchat_channels) AS channels
"""
WORD_COUNTS = """
SELECT w, (SELECT count(*) FROM nchat_messages
           WHERE search @@ plainto_tsquery('nchat_search', w)) AS n
FROM unnest($1::text[]) AS w
"""
SEARCH_RELATION_SIZES = """
SELECT pg_size_pretty(pg_table_size('nchat_messages')) AS "table",
       pg_size_pretty(pg_relation_size('ix_nchat_messages_search')) AS words_gin,
       pg_size_pretty(pg_relation_size('ix_nchat_messages_text_trgm')) AS trigram_gin
"""
PREPARED = """
SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
WHERE statement LIKE '%nchat_messages%'
"""


# -- plans ----------------------------------------------------------------------------------


class Capture:
    """`before_cursor_execute` listener: the statements (and parameters) the app runs while
    `active`."""

    def __init__(self) -> None:
        self.active = False
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    def __call__(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if self.active and not executemany:
            self.statements.append((statement, tuple(parameters or ())))


def _label(statement: str) -> str:
    """Which step of service.search_messages a statement is."""
    if "ts_headline(" in statement or "translate(" in statement:
        return "headlines"
    if "array_agg(" in statement:
        return "newest"
    matches = "@@" in statement or " ILIKE " in statement
    if matches and "ORDER BY" not in statement:
        return "count"
    if matches:
        return "page"
    if "ts_rank_cd(" in statement:
        return "rank"
    return "other"


def _nodes(plan: dict[str, Any], depth: int = 0) -> list[tuple[int, dict[str, Any]]]:
    out = [(depth, plan)]
    for child in plan.get("Plans", []):
        out.extend(_nodes(child, depth + 1))
    return out


def _main(plan: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """The plan's nodes without its subplans (the readable channels' lists)."""
    out = [(0, plan)]
    for child in plan.get("Plans", []):
        if child.get("Parent Relationship") not in ("SubPlan", "InitPlan"):
            out.extend(_main(child))
    return out


def _describe(node: dict[str, Any]) -> str:
    text = str(node["Node Type"])
    if "Relation Name" in node:
        text += f" on {node['Relation Name']}"
    if "Index Name" in node:
        text += f" using {node['Index Name']}"
    if "Actual Rows" in node:
        text += (
            f" (rows={node['Actual Rows']} loops={node['Actual Loops']}"
            f" time={node['Actual Total Time']} ms)"
        )
    return text


def _short(node: dict[str, Any]) -> str:
    text = str(node["Node Type"])
    if "Index Name" in node:
        text += f" {str(node['Index Name']).removeprefix('ix_nchat_messages_')}"
    elif "Relation Name" in node:
        text += f" {str(node['Relation Name']).removeprefix('nchat_')}"
    return text


def _summary(explained: dict[str, Any]) -> dict[str, Any]:
    nodes = _nodes(explained["Plan"])
    on_messages = [n for _, n in nodes if n.get("Relation Name") == "nchat_messages"]
    out = {
        "seq_scan_nchat_messages": any(n["Node Type"] == "Seq Scan" for n in on_messages),
        "top_nodes": [_describe(n) for _, n in nodes[:4]],
        "outline": " > ".join(_short(n) for _, n in _main(explained["Plan"])[:5]),
        "plan": ["  " * depth + _describe(n) for depth, n in nodes],
        "total_cost": explained["Plan"]["Total Cost"],
    }
    if "Execution Time" in explained:
        out["execution_ms"] = explained["Execution Time"]
        out["planning_ms"] = explained["Planning Time"]
        # Rows the scans of nchat_messages produced or threw away (filters, rechecks).
        out["nchat_messages_rows_read"] = sum(
            int(
                (
                    n["Actual Rows"]
                    + n.get("Rows Removed by Filter", 0)
                    + n.get("Rows Removed by Index Recheck", 0)
                )
                * n["Actual Loops"]
            )
            for n in on_messages
        )
    return out


async def _explain(conn: asyncpg.Connection, statement: str, params: tuple[Any, ...]) -> Any:
    explain = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)"
    out = _summary(json.loads(await conn.fetchval(f"{explain} {statement}", *params))[0])
    # The plan a prepared statement gets once PostgreSQL stops planning it per execution
    # (the app's driver prepares every statement): EXPLAIN with parameters bound plans for
    # their values, so the statement is prepared and explained with the generic plan forced.
    if params:
        await conn.execute(f"PREPARE bench_generic AS {statement}")
        try:
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            args = ", ".join(_literal(p) for p in params)
            generic = json.loads(await conn.fetchval(f"{explain} EXECUTE bench_generic ({args})"))[
                0
            ]
        finally:
            await conn.execute("RESET plan_cache_mode; DEALLOCATE bench_generic")
        out["generic_plan"] = _summary(generic)
    return out


def _literal(value: Any) -> str:
    """A parameter as an SQL literal (the prepared statement's casts give it its type)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        value = value.isoformat()
    text = str(value).replace("'", "''")
    return f"'{text}'"


async def _plans(
    client: httpx.AsyncClient,
    capture: Capture,
    explainer: asyncpg.Connection,
    headers: dict[str, str],
    size: seed.Size,
) -> dict[str, Any]:
    rng = random.Random(7)
    out: dict[str, Any] = {}
    for shape, (_, make) in SHAPES.items():
        for sort in SORTS:
            query = make(rng, size)
            capture.statements.clear()
            capture.active = True
            try:
                resp = await client.get(
                    "/api/search/messages", params={"q": query, "sort": sort}, headers=headers
                )
            finally:
                capture.active = False
            assert resp.status_code == 200, resp.text
            steps = []
            for statement, params in capture.statements:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                if "nchat_messages" not in statement:
                    continue
                steps.append(
                    {
                        "step": _label(statement),
                        "sql": statement,
                        **await _explain(explainer, statement, params),
                    }
                )
            out[f"{shape}/{sort}"] = {"query": query, "statements": steps}
    return out


async def _prepared(engine: Any, plans: dict[str, Any]) -> None:
    """How often the app's pooled connections ran each explained statement with a generic
    plan and with a custom one, over the whole run; added to `plans`. Shapes whose SQL is the
    same text (one word, two words: one plainto_tsquery) share the figures."""
    counts: dict[str, list[int]] = {}
    conns = [await engine.connect() for _ in range(max(1, engine.sync_engine.pool.checkedin()))]
    try:
        for conn in conns:
            for statement, generic, custom in (await conn.execute(sa.text(PREPARED))).all():
                total = counts.setdefault(statement, [0, 0])
                total[0] += generic
                total[1] += custom
    finally:
        for conn in conns:
            await conn.close()
    for entry in plans.values():
        for step in entry["statements"]:
            found = counts.get(step["sql"])
            step["app_generic_plans"], step["app_custom_plans"] = found or (None, None)


# -- timing ---------------------------------------------------------------------------------


async def _sample(
    client: httpx.AsyncClient,
    timed: Timed,
    headers: dict[str, str],
    make: Shape,
    size: seed.Size,
    sort: str,
    n: int,
    progress: Progress,
    name: str,
) -> dict[str, Any]:
    rng = random.Random(f"{name}/{sort}")

    async def call() -> tuple[httpx.Response, float]:
        resp = await client.get(
            "/api/search/messages", params={"q": make(rng, size), "sort": sort}, headers=headers
        )
        assert resp.status_code == 200, resp.text
        return resp, timed.last_ms

    task = progress.add_task(f"{name} {sort}", total=n)
    for _ in range(WARMUP):
        await call()
    timings, totals, hits = [], [], []
    capped = 0
    for _ in range(n):
        resp, ms = await call()
        body = resp.json()
        timings.append(ms)
        totals.append(body["estimated_total"])
        hits.append(len(body["messages"]))
        capped += body["total_capped"]
        progress.advance(task)
    return {
        **percentiles(timings),
        "matches_min": min(totals),
        "matches_max": max(totals),
        "matches_capped_share": round(capped / n, 3),
        "page_hits_mean": round(sum(hits) / n, 1),
    }


async def _measure(url: str, size: seed.Size, samples: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    explainer = await asyncpg.connect(libpq_url(url), server_settings={"jit": "off"})
    try:
        results["server_version"] = await explainer.fetchval("SHOW server_version")
        results["readable"] = dict(await explainer.fetchrow(READABLE) or {})
        results["sizes_on_disk"] = dict(await explainer.fetchrow(SEARCH_RELATION_SIZES) or {})
        words = [*seed.RARE_WORDS, *COMMON]
        start = time.perf_counter()
        results["word_counts"] = {r["w"]: r["n"] for r in await explainer.fetch(WORD_COUNTS, words)}
        console.print(f"counted the vocabulary's matches in {time.perf_counter() - start:.1f} s")
        with tempfile.TemporaryDirectory() as tmp:
            app = create_app(
                Settings(
                    database_url=url, data_dir=Path(tmp), secret_key="b" * 48, log_level="error"
                )
            )
            timed = Timed(app)
            capture = Capture()
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=timed), base_url="http://bench"
                ) as client,
            ):
                # The engine is made by the lifespan.
                sa.event.listen(app.state.engine.sync_engine, "before_cursor_execute", capture)
                r = await client.post(
                    "/api/auth/signin", json={"login": "user1", "password": PASSWORD}
                )
                headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
                shapes: dict[str, Any] = {}
                with Progress(console=console, transient=True) as progress:
                    for shape, (what, make) in SHAPES.items():
                        shapes[shape] = {"what": what, "example": make(random.Random(1), size)}
                        for sort in SORTS:
                            shapes[shape][sort] = await _sample(
                                client, timed, headers, make, size, sort, samples, progress, shape
                            )
                plans = await _plans(client, capture, explainer, headers, size)
                await _prepared(app.state.engine, plans)
    finally:
        await explainer.close()
    results["shapes"] = shapes
    results["plans"] = plans
    return results


# -- results --------------------------------------------------------------------------------


def _seq_scan(plans: dict[str, Any], key: str, *, generic: bool = False) -> bool:
    steps = plans[key]["statements"]
    if generic:
        return any(s.get("generic_plan", {}).get("seq_scan_nchat_messages") for s in steps)
    return any(s["seq_scan_nchat_messages"] for s in steps)


def _targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for shape in SHAPES:
        for sort in SORTS:
            p99 = results["shapes"][shape][sort]["p99_ms"]
            rows.append(
                {
                    "what": f"search {shape}, sort={sort}, p99 ms",
                    "value": p99,
                    "target": f"< {TARGET_MS[sort]:g}",
                    "met": p99 < TARGET_MS[sort],
                }
            )
    for key in results["plans"]:
        seq = _seq_scan_label(results, key)
        rows.append(
            {
                "what": f"search {key}: a Seq Scan on nchat_messages (its plan; its generic plan)",
                "value": seq,
                "target": "no",
                "met": seq == "no",
            }
        )
    return rows


def _matches(r: dict[str, Any]) -> str:
    if r["matches_capped_share"] == 1:
        return "1000+"
    low, high = r["matches_min"], r["matches_max"]
    text = str(low) if low == high else f"{low}-{high}"
    return text + ("+" if r["matches_capped_share"] else "")


def _seq_scan_label(results: dict[str, Any], key: str) -> str:
    custom = _seq_scan(results["plans"], key)
    generic = _seq_scan(results["plans"], key, generic=True)
    return {(False, False): "no", (True, False): "YES", (False, True): "generic plan"}.get(
        (custom, generic), "YES (both)"
    )


def _print(results: dict[str, Any]) -> None:
    table = Table(
        "shape", "sort", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "matches", "seq scan", "met"
    )
    for shape in SHAPES:
        for sort in SORTS:
            r = results["shapes"][shape][sort]
            key = f"{shape}/{sort}"
            met = r["p99_ms"] < TARGET_MS[sort] and _seq_scan_label(results, key) == "no"
            table.add_row(
                shape,
                sort,
                str(r["n"]),
                *(str(r[k]) for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")),
                _matches(r),
                _seq_scan_label(results, key),
                "yes" if met else "NO",
            )
    console.print(table)
    console.print("plans of the search's statements on messages (ms: EXPLAIN ANALYZE):")
    for key, entry in results["plans"].items():
        for step in entry["statements"]:
            if step["step"] not in ("newest", "count", "page", "rank"):
                continue
            generic = step.get("generic_plan", {})
            line = (
                f"  {key} {step['step']}: {step['execution_ms']:.1f} ms, "
                f"{step['nchat_messages_rows_read']} rows of nchat_messages read: "
                f"{step['outline']}"
            )
            if generic:
                same = generic["outline"] == step["outline"]
                line += (
                    f"; generic plan {generic['execution_ms']:.1f} ms"
                    f"{' (same)' if same else ': ' + generic['outline']}"
                    f"; the app ran {step['app_generic_plans']} generic, "
                    f"{step['app_custom_plans']} custom"
                )
            console.print(line, soft_wrap=True, highlight=False)
    readable = results["readable"]
    console.print(
        f"user1: member of {readable['member_channels']} channels, "
        f"{readable['public_channels']} of {readable['channels']} channels public; "
        f"PostgreSQL {results['server_version']}; on disk {results['sizes_on_disk']}"
    )


def main(args: argparse.Namespace) -> int:
    size = seed.QUICK if args.quick else seed.FULL
    if getattr(args, "messages", None):
        size = dataclasses.replace(size, messages=args.messages)
    samples = 50 if args.quick else 200
    with fresh_database(args.database_url) as url:
        console.print(
            f"seeding {size.messages:,} messages in {size.channels:,} channels "
            f"for {size.users:,} users ..."
        )
        start = time.perf_counter()
        asyncio.run(seed.seed(url, size, PASSWORD))
        seeded_s = time.perf_counter() - start
        console.print(f"seeded in {seeded_s:.1f} s")
        results = asyncio.run(_measure(url, size, samples))
    results["size"] = size.__dict__
    results["seed_seconds"] = round(seeded_s, 1)
    results["samples_per_shape"] = samples
    results["vocabulary"] = {
        "topics": seed.TOPICS,
        "subjects": seed.SUBJECTS,
        "rare_words": seed.RARE_WORDS,
        "rare_each": seed.RARE_EACH,
        "prefixes": PREFIXES,
    }
    results["targets"] = _targets(results)
    _print(results)
    console.print(f"results written to {write_results('search', results, args.output)}")
    return 0
