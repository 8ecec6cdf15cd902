"""`web`: the web client in Debian's Chromium (Playwright) against `nchat serve` as the README
starts it, on the `history` corpus (user1 in 500 channels, 1,000,000 messages).

- cold load: a new browser profile (nothing cached) opens a channel; the time from the
  navigation's start to its first message on the page, and the JS and CSS it transferred;
- channel switch: a click on a channel in the list until its messages are on the page (the
  next animation frame after they are), to channels not opened before (nothing kept);
- send to visible: Enter in one person's composer until the message is on the other's page
  (both pages' clocks are the machine's: `performance.timeOrigin + now()`);
- scroll back: through a channel of SCROLL_MESSAGES messages to its first, page by page,
  with the messages in the DOM and the page's JS heap after each page.

Times are taken inside the page, so Playwright's own round trips are not in them."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import time
import uuid
from typing import Any

import asyncpg
import httpx
from rich.console import Console
from rich.table import Table

from bench import seed
from bench.common import fresh_database, percentiles, write_results
from bench.server import running
from nchat.db.engine import libpq_url
from nchat.db.ids import uuid7

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # a test extra: only this scenario needs it
    sync_playwright = None

PASSWORD = "bench password"
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--headless", "--disable-gpu"]
SCROLL_MESSAGES = 5_000
TARGETS = {
    "cold_load_p95_ms": 1_000,
    "first_load_js_css_kb": 150,
    "channel_switch_p95_ms": 150,
    "send_to_visible_p95_ms": 100,
}
console = Console()

FIRST_MESSAGE = """() => {
  const first = document.querySelector("ol.messages > li.message");
  return first ? performance.now() : false;
}"""
TRANSFERRED = """() => {
  const files = performance.getEntriesByType("resource")
    .filter((e) => /\\/assets\\/.*\\.(js|css)$/.test(new URL(e.name).pathname));
  return {
    files: files.length,
    transfer_bytes: files.reduce((n, e) => n + e.transferSize, 0),
    body_bytes: files.reduce((n, e) => n + e.encodedBodySize, 0),
    decoded_bytes: files.reduce((n, e) => n + e.decodedBodySize, 0),
  };
}"""
SWITCH = """async ([id, name]) => {
  const link = document.querySelector(`#sidebar a[href="/channels/${id}"]`);
  if (!link) throw new Error(`no link to ${name}`);
  const start = performance.now();
  link.click();
  for (;;) {
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const title = document.getElementById("channel-title")?.textContent;
    if (title === `#${name}` && document.querySelector("ol.messages > li.message")) {
      return performance.now() - start;
    }
    if (performance.now() - start > 10000) throw new Error(`${name} did not open`);
  }
}"""
WATCH = """() => {
  window.__seen = new Map();
  new MutationObserver(() => {
    for (const body of document.querySelectorAll("ol.messages .message-body")) {
      const text = body.textContent.trim();
      if (text.startsWith("bench-") && !window.__seen.has(text)) {
        window.__seen.set(text, performance.timeOrigin + performance.now());
      }
    }
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""
PRESS_ENTER = """() => {
  const box = document.getElementById("composer-input");
  const at = performance.timeOrigin + performance.now();
  box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter", bubbles: true }));
  return at;
}"""
SCROLL_UP = """async () => {
  const scroller = document.querySelector(".scroller");
  const ids = () =>
    [...document.querySelectorAll("ol.messages > li.message")].map((li) => li.dataset.key);
  const before = ids()[0];
  const start = performance.now();
  scroller.scrollTop = 0;
  scroller.dispatchEvent(new Event("scroll"));
  for (;;) {
    await new Promise((resolve) => requestAnimationFrame(resolve));
    const now = ids();
    const top = document.querySelector("li.history-edge")?.textContent ?? "";
    if (now[0] !== before || top.includes("very beginning")) {
      return {
        ms: performance.now() - start,
        ids: now,
        at_start: top.includes("very beginning"),
        nodes: document.getElementsByTagName("*").length,
        heap_bytes: performance.memory ? performance.memory.usedJSHeapSize : null,
      };
    }
    if (performance.now() - start > 10000) throw new Error("no older page came");
  }
}"""


async def _extra_messages(url: str, channel_id: Any, user_id: Any, count: int) -> None:
    """`count` more messages in one channel, newer than the corpus's, as sends write them,
    all read by `user_id`: the channel opens at its newest, with the whole of it above."""
    conn = await asyncpg.connect(libpq_url(url))
    try:
        rows = [
            (uuid7(), channel_id, user_id, f"scroll {i}", f"<p>scroll {i}</p>")
            for i in range(count)
        ]
        await conn.executemany(
            "INSERT INTO nchat_messages (id, channel_id, user_id, text, html) "
            "VALUES ($1, $2, $3, $4, $5)",
            rows,
        )
        await conn.execute(
            "UPDATE nchat_channel_members SET last_read_id = $1 "
            "WHERE channel_id = $2 AND user_id = $3",
            rows[-1][0],
            channel_id,
            user_id,
        )
        await conn.execute("ANALYZE nchat_messages")
    finally:
        await conn.close()


async def _facts(url: str) -> dict[str, Any]:
    conn = await asyncpg.connect(libpq_url(url))
    try:
        user1 = await conn.fetchval("SELECT id FROM nchat_users WHERE username = 'user1'")
        user2 = await conn.fetchval("SELECT id FROM nchat_users WHERE username = 'user2'")
        mine = await conn.fetch(
            "SELECT c.id, c.name FROM nchat_channels c JOIN nchat_channel_members m "
            "ON m.channel_id = c.id WHERE m.user_id = $1 ORDER BY c.name",
            user1,
        )
        shared = await conn.fetchval(
            "SELECT a.channel_id FROM nchat_channel_members a JOIN nchat_channel_members b "
            "USING (channel_id) WHERE a.user_id = $1 AND b.user_id = $2 LIMIT 1",
            user1,
            user2,
        )
    finally:
        await conn.close()
    return {
        "user1": user1,
        "channels": [(str(r["id"]), r["name"]) for r in mine],
        "shared": str(shared),
    }


def _storage(base: str, login: str) -> dict[str, Any]:
    """A browser profile holding a new session's refresh token (as after signing in)."""
    r = httpx.post(f"{base}/api/auth/signin", json={"login": login, "password": PASSWORD})
    r.raise_for_status()
    token = r.json()["refresh_token"]
    return {
        "cookies": [],
        "origins": [
            {"origin": base, "localStorage": [{"name": "nchat.refresh_token", "value": token}]}
        ],
    }


def _cold_load(browser: Any, base: str, channel: str) -> tuple[float, dict[str, Any]]:
    context = browser.new_context(storage_state=_storage(base, "user1"))
    page = context.new_page()
    page.goto(f"{base}/channels/{channel}", wait_until="commit")
    ms = float(page.wait_for_function(FIRST_MESSAGE, polling="raf").json_value())
    transferred = page.evaluate(TRANSFERRED)
    context.close()
    return ms, transferred


def _cold_loads(browser: Any, base: str, channel: str, n: int) -> dict[str, Any]:
    loads = [_cold_load(browser, base, channel) for _ in range(n)]
    return {"load": percentiles_95([ms for ms, _ in loads]), "transferred": loads[-1][1]}


def _switches(browser: Any, base: str, channels: list[tuple[str, str]], n: int) -> dict[str, Any]:
    context = browser.new_context(storage_state=_storage(base, "user1"))
    page = context.new_page()
    first, *rest = channels
    page.goto(f"{base}/channels/{first[0]}")
    page.wait_for_function(FIRST_MESSAGE, polling="raf")
    times = [float(page.evaluate(SWITCH, list(target))) for target in rest[:n]]
    context.close()
    return percentiles_95(times)


def _sends(browser: Any, base: str, channel: str, n: int) -> dict[str, Any]:
    writer_context = browser.new_context(storage_state=_storage(base, "user1"))
    reader_context = browser.new_context(storage_state=_storage(base, "user2"))
    writer, reader = writer_context.new_page(), reader_context.new_page()
    for page in (writer, reader):
        page.goto(f"{base}/channels/{channel}")
        page.wait_for_function(FIRST_MESSAGE, polling="raf")
    reader.evaluate(WATCH)
    box = writer.locator("#composer-input")
    times: list[float] = []
    for i in range(n):
        text = f"bench-{i}-{time.time_ns()}"
        box.fill(text)
        sent_at = float(writer.evaluate(PRESS_ENTER))
        seen_at = reader.wait_for_function(
            "(text) => window.__seen.get(text) ?? false", arg=text, polling=5
        ).json_value()
        times.append(float(seen_at) - sent_at)
        writer.wait_for_timeout(50)
    writer_context.close()
    reader_context.close()
    return percentiles_95(times)


def _scroll_back(browser: Any, base: str, channel: str) -> dict[str, Any]:
    context = browser.new_context(storage_state=_storage(base, "user1"))
    page = context.new_page()
    page.goto(f"{base}/channels/{channel}")
    page.wait_for_function(FIRST_MESSAGE, polling="raf")
    seen: set[str] = set()
    pages: list[float] = []
    most_messages = most_nodes = 0
    heaps: list[int] = []
    while True:
        step = page.evaluate(SCROLL_UP)
        seen.update(step["ids"])
        pages.append(step["ms"])
        most_messages = max(most_messages, len(step["ids"]))
        most_nodes = max(most_nodes, step["nodes"])
        if step["heap_bytes"] is not None:
            heaps.append(step["heap_bytes"])
        if step["at_start"]:
            break
    context.close()
    return {
        "messages_seen": len(seen),
        "pages": len(pages),
        "page_load": percentiles_95(pages),
        "most_messages_in_dom": most_messages,
        "most_elements_in_dom": most_nodes,
        "js_heap_mb_first_last_max": [
            round(heaps[0] / 2**20, 1),
            round(heaps[-1] / 2**20, 1),
            round(max(heaps) / 2**20, 1),
        ]
        if heaps
        else None,
    }


def percentiles_95(samples: list[float]) -> dict[str, float]:
    found = percentiles(samples)
    found["p95_ms"] = round(statistics.quantiles(sorted(samples), n=100, method="inclusive")[94], 3)
    return found


def _measure(url: str, quick: bool) -> dict[str, Any]:
    if sync_playwright is None:
        raise SystemExit("the web scenario needs Playwright: pip install -e '.[test]'")
    facts = asyncio.run(_facts(url))
    channels = facts["channels"]
    scroll_channel = channels[0][0]
    asyncio.run(_extra_messages(url, uuid.UUID(scroll_channel), facts["user1"], SCROLL_MESSAGES))
    loads, switches, sends = (5, 30, 30) if quick else (20, 200, 200)
    with running(url, workers=1) as nodes, sync_playwright() as p:
        base = nodes[0].base
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            # The first load compresses each file once (kept for the process's life): done
            # before the samples, as any visitor but the first gets them ready.
            _cold_load(browser, base, channels[1][0])
            results = {
                "cold_load": _cold_loads(browser, base, channels[1][0], loads),
                "channel_switch": _switches(browser, base, channels[2:], switches),
                "send_to_visible": _sends(browser, base, facts["shared"], sends),
                "scroll_back": _scroll_back(browser, base, scroll_channel),
                "browser_version": browser.version,
            }
        finally:
            browser.close()
    results["channels_of_user1"] = len(channels)
    return results


def _targets(results: dict[str, Any]) -> dict[str, Any]:
    figures = {
        "cold_load_p95_ms": results["cold_load"]["load"]["p95_ms"],
        "first_load_js_css_kb": round(
            results["cold_load"]["transferred"]["transfer_bytes"] / 1024, 1
        ),
        "channel_switch_p95_ms": results["channel_switch"]["p95_ms"],
        "send_to_visible_p95_ms": results["send_to_visible"]["p95_ms"],
    }
    return {
        name: {"figure": figures[name], "target": limit, "met": figures[name] < limit}
        for name, limit in TARGETS.items()
    }


def _print(results: dict[str, Any]) -> None:
    table = Table(title="web client (Chromium)")
    for column in ("measure", "figure", "target", "met"):
        table.add_column(column)
    for name, row in results["targets"].items():
        table.add_row(name, str(row["figure"]), f"< {row['target']}", "yes" if row["met"] else "NO")
    console.print(table)
    console.print(f"cold load: {results['cold_load']}")
    console.print(f"channel switch: {results['channel_switch']}")
    console.print(f"send to visible: {results['send_to_visible']}")
    console.print(f"scroll back: {results['scroll_back']}")


def main(args: argparse.Namespace) -> int:
    size = seed.QUICK if args.quick else seed.FULL
    with fresh_database(args.database_url) as url:
        console.print(f"seeding {size.messages:,} messages in {size.channels:,} channels ...")
        started = time.perf_counter()
        asyncio.run(seed.seed(url, size, PASSWORD))
        console.print(f"seeded in {time.perf_counter() - started:.1f} s")
        results = _measure(url, args.quick)
    results["size"] = dataclasses.asdict(size)
    results["targets"] = _targets(results)
    _print(results)
    console.print(f"results written to {write_results('web', results, args.output)}")
    return 0
