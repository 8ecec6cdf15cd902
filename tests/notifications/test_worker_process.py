"""`nchat worker` as its own process delivers what an API node that runs no jobs decided."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI

from tests.db import nchat_executable
from tests.fixtures.factories import UserFactory
from tests.fixtures.push_service import PushService
from tests.messaging.helpers import Api

# Every process of a deployment signs with the same VAPID key.
VAPID_PEM = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)


@pytest.fixture(scope="module")
def notify_overrides() -> dict[str, object]:
    # This app decides; only the worker process delivers.
    return {"job_concurrency": 0, "vapid_private_key": VAPID_PEM}


@pytest.fixture
def worker(notify_url: str, tmp_path: Path, notify_app: FastAPI) -> Iterator[subprocess.Popen[str]]:
    env = {
        **os.environ,
        "NCHAT_DATABASE_URL": notify_url,
        "NCHAT_DATA_DIR": str(tmp_path),
        "NCHAT_PUSH_DELAY_S": "0.5",
        "NCHAT_PUSH_ALLOW_PRIVATE_ENDPOINTS": "true",
        "NCHAT_LOG_LEVEL": "warning",
        "NCHAT_VAPID_PRIVATE_KEY": VAPID_PEM,
    }
    proc = subprocess.Popen(
        [nchat_executable(), "worker", "--concurrency", "4"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)


async def test_a_worker_process_delivers_and_stops_on_sigterm(
    notify_client: httpx.AsyncClient,
    napi: Api,
    people: UserFactory,
    push_service: PushService,
    worker: subprocess.Popen[str],
) -> None:
    ana, ben = await people(), await people()
    sub = push_service.subscribe()
    r = await notify_client.post(
        "/api/push/register",
        headers=ben.headers,
        json={"platform": "webpush", "device_id": "b", "subscription": sub.json()},
    )
    assert r.status_code == 201, r.text
    dm = await notify_client.post(
        "/api/channels/direct", headers=ana.headers, json={"user_ids": [str(ben.id)]}
    )
    await napi.send(ana, dm.json()["id"], "from the API node")

    [push] = await push_service.wait_for(1, within_s=30)
    assert push.payload["body"] == "from the API node"
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    assert "nchat worker stopped" in output
