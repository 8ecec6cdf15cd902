"""The server under test, started as users run it: `nchat serve` on a fresh database."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "bench password long enough"
UNTHROTTLED = 100_000_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(
    url: str, data_dir: Path, port: int, workers: int | None, **settings: str
) -> subprocess.Popen[bytes]:
    """`nchat serve` in its own process; extra settings are NCHAT_<NAME> values. With
    `workers` None, serve's own default (as the README starts it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NCHAT_")}
    env.update(
        NCHAT_DATABASE_URL=url,
        NCHAT_DATA_DIR=str(data_dir),
        NCHAT_LOG_LEVEL="error",
        NCHAT_SECRET_KEY="bench-" + "k" * 40,
        NCHAT_LOGIN_MAX_FAILURES="1000",
        # Per-user volume limits so high they never refuse: every check still runs, so its
        # cost is measured, but the load is not throttled by its own senders. Not an
        # exempt role, which would skip the check.
        **dict.fromkeys(
            (
                "NCHAT_RATE_SEND_PER_MIN",
                "NCHAT_RATE_SEND_BURST",
                "NCHAT_RATE_SYNC_OPS_PER_MIN",
                "NCHAT_RATE_SYNC_OPS_BURST",
                "NCHAT_RATE_SIGNALS_PER_MIN",
                "NCHAT_RATE_SIGNALS_BURST",
                # Fan-out's subscribers are one user's sockets: counted (the query runs at
                # every connect), never refused.
                "NCHAT_WS_MAX_PER_USER",
            ),
            str(UNTHROTTLED),
        ),
    )
    env.update({f"NCHAT_{k.upper()}": v for k, v in settings.items()})
    nchat = Path(sys.executable).with_name("nchat")
    return subprocess.Popen(
        [str(nchat), "serve", "--port", str(port)]
        + ([] if workers is None else ["--workers", str(workers)]),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_healthy(base: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            try:
                if (await client.get(f"{base}/api/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("nchat serve did not become healthy")


@dataclass(frozen=True)
class Node:
    base: str
    process: subprocess.Popen[bytes]

    @property
    def ws(self) -> str:
        return self.base.replace("http", "ws", 1)


@contextmanager
def running(
    url: str, *, workers: int | None, nodes: int = 1, **settings: str
) -> Iterator[list[Node]]:
    """`nodes` servers sharing the database, each with `workers` processes."""
    started: list[Node] = []
    with tempfile.TemporaryDirectory(prefix="nchat-bench-serve-") as tmp:
        try:
            for i in range(nodes):
                port = free_port()
                data = Path(tmp) / f"node{i}"
                data.mkdir()
                proc = start(url, data, port, workers, **settings)
                started.append(Node(f"http://127.0.0.1:{port}", proc))
            for node in started:
                asyncio.run(wait_healthy(node.base))
            yield started
        finally:
            for node in started:
                stop(node.process)


async def setup_owner(client: httpx.AsyncClient) -> dict[str, Any]:
    """Complete first-run setup; returns the owner's auth response (`access_token`, `user`)."""
    resp = await client.post(
        "/api/setup",
        json={
            "owner": {
                "email": "owner@example.com",
                "username": "owner",
                "password": PASSWORD,
                "display_name": "Owner",
            }
        },
    )
    resp.raise_for_status()
    body: dict[str, Any] = resp.json()
    return body


async def add_user(client: httpx.AsyncClient, owner_token: str, username: str) -> dict[str, Any]:
    """Create a member and sign them in; returns the signin response."""
    headers = {"Authorization": f"Bearer {owner_token}"}
    resp = await client.post(
        "/api/users",
        headers=headers,
        json={"email": f"{username}@example.com", "username": username, "password": PASSWORD},
    )
    resp.raise_for_status()
    signin = await client.post("/api/auth/signin", json={"login": username, "password": PASSWORD})
    signin.raise_for_status()
    body: dict[str, Any] = signin.json()
    return body
