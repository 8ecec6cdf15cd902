"""`notify`: an @channel message in a 1,000-member channel whose members each have two Web Push
devices and no socket. Every push must arrive at a local push service that checks its VAPID
token and decrypts it (bench/push_service.py); the time from the send to the last one is
recorded. Then the send's latency with notifications delivered against the same sends with
delivery off (no devices, no job worker), on the same server build and data.

`nchat serve` runs as the README starts it, with two settings the measurement needs:
`NCHAT_PUSH_DELAY_S=0` (the default 30 s wait would only add 30 s) and
`NCHAT_PUSH_ALLOW_PRIVATE_ENDPOINTS=true` (the push service is on 127.0.0.1). The members are
written into the database directly (users, sessions, devices), as a thousand sign-ins would
only measure argon2; the message goes through the API."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from typing import Any

import asyncpg
import httpx
from rich.console import Console

from bench import push_service, server
from bench.common import fresh_database, percentiles, write_results
from nchat.db.engine import libpq_url

console = Console(width=120)
DEVICES = 2
TARGET_S = 10.0
LATENCY_SENDS = 300


async def _members(url: str, count: int, peer: push_service.PushService | None) -> list[str]:
    """`count` members, each with a session and (given a push service) DEVICES browsers."""
    conn = await asyncpg.connect(libpq_url(url))
    ids = [str(uuid.uuid4()) for _ in range(count)]
    try:
        await conn.executemany(
            "INSERT INTO nchat_users (id, username, email, password_hash) "
            "VALUES ($1::uuid, $2, $3, 'x')",
            [(i, f"member{n}", f"member{n}@example.com") for n, i in enumerate(ids)],
        )
        sessions = [str(uuid.uuid4()) for _ in ids]
        await conn.executemany(
            "INSERT INTO nchat_sessions (id, user_id, refresh_hash, expires_at) "
            "VALUES ($1::uuid, $2::uuid, 'x', now() + interval '1 day')",
            list(zip(sessions, ids, strict=True)),
        )
        if peer is not None:
            rows = []
            for user_id, session_id in zip(ids, sessions, strict=True):
                for d in range(DEVICES):
                    sub = peer.subscribe()
                    keys = sub.json()["keys"]
                    rows.append(
                        (str(uuid.uuid4()), user_id, f"browser-{d}", session_id, sub.endpoint,
                         keys["p256dh"], keys["auth"])
                    )  # fmt: skip
            await conn.executemany(
                "INSERT INTO nchat_push_devices (id, user_id, device_id, platform, session_id, "
                "endpoint, p256dh, auth) VALUES ($1::uuid, $2::uuid, $3, 'webpush', $4::uuid, "
                "$5, $6, $7)",
                rows,
            )
    finally:
        await conn.close()
    return ids


async def _channel(client: httpx.AsyncClient, token: str, member_ids: list[str]) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    resp = await client.post("/api/channels", headers=headers, json={"name": "everyone"})
    resp.raise_for_status()
    channel_id: str = resp.json()["id"]
    for start in range(0, len(member_ids), 500):
        batch = member_ids[start : start + 500]
        added = await client.post(
            f"/api/channels/{channel_id}/members", headers=headers, json={"user_ids": batch}
        )
        added.raise_for_status()
    return channel_id


async def _send_latencies(
    client: httpx.AsyncClient, token: str, channel_id: str, sends: int
) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    samples = []
    for n in range(sends):
        started = time.perf_counter()
        resp = await client.post(
            "/api/messages",
            headers=headers,
            json={"channel_id": channel_id, "text": f"status update {n}"},
        )
        samples.append((time.perf_counter() - started) * 1000)
        resp.raise_for_status()
    return samples


async def _fan_out(
    base: str, url: str, members: int, peer: push_service.PushService
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        owner = await server.setup_owner(client)
        ids = await _members(url, members, peer)
        channel_id = await _channel(client, owner["access_token"], ids)
        expected = members * DEVICES
        console.print(f"@channel to {members} members, {expected} devices ...")
        started = time.monotonic()
        resp = await client.post(
            "/api/messages",
            headers={"Authorization": f"Bearer {owner['access_token']}"},
            json={"channel_id": channel_id, "text": "@channel the deploy is done"},
        )
        resp.raise_for_status()
        sent_s = time.monotonic() - started
        await peer.wait_for(expected, within_s=120)
        await asyncio.sleep(2.0)  # nothing more should come
        received = list(peer.received)
        first_s = min(r.at for r in received) - started
        last_s = max(r.at for r in received) - started
        bodies = {r.payload["body"] for r in received}
        # Plain messages: they notify nobody at the default level, so what is timed is the
        # send with the notifier deciding behind it, not the delivery of pushes.
        latencies = await _send_latencies(client, owner["access_token"], channel_id, LATENCY_SENDS)
    return {
        "members": members,
        "devices": expected,
        "received": len(received),
        "distinct_devices": len({r.subscription_id for r in received}),
        "refused": len(peer.refused),
        "distinct_bodies": sorted(bodies),
        "send_ms": round(sent_s * 1000, 1),
        "time_to_first_delivery_s": round(first_s, 2),
        "time_to_last_delivery_s": round(last_s, 2),
        "target_s": TARGET_S,
        "met": last_s < TARGET_S and len(received) == expected,
        "send_latency_push_on": percentiles(latencies),
    }


async def _quiet(base: str, url: str, members: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        owner = await server.setup_owner(client)
        ids = await _members(url, members, None)
        channel_id = await _channel(client, owner["access_token"], ids)
        latencies = await _send_latencies(client, owner["access_token"], channel_id, LATENCY_SENDS)
    return {"send_latency_push_off": percentiles(latencies)}


def main(args: argparse.Namespace) -> int:
    members = 100 if args.quick else 1000
    workers = str(os.cpu_count() or 1)
    results: dict[str, Any] = {"scenario": "notify", "workers": int(workers)}
    settings = {"push_delay_s": "0", "push_allow_private_endpoints": "true"}
    # Both runs on a fresh embedded database each (--database-url is not used).
    with (
        push_service.running() as peer,
        fresh_database(None) as url,
        server.running(url, workers=int(workers), **settings) as nodes,
    ):
        results.update(asyncio.run(_fan_out(nodes[0].base, url, members, peer)))
    # The same sends on a fresh database with delivery off: no devices, no job worker.
    with (
        fresh_database(None) as url,
        server.running(url, workers=int(workers), job_concurrency="0") as nodes,
    ):
        results.update(asyncio.run(_quiet(nodes[0].base, url, members)))
    path = write_results("notify", results, args.output)
    console.print_json(data=results)
    console.print(f"written to {path}")
    return 0 if results["met"] else 1
