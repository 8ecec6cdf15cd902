"""A rolling upgrade from the previous release and its rollback, as an operator runs them:
v0.1.0 serves a populated database; this version's `nchat db migrate up` runs beside it;
this version starts next to it; v0.1.0 stops; then v0.1.0 starts again on the new schema
and this version stops. A client sends and listens the whole time, moving to the node that
serves (as a load balancer would): every message it sent arrives once, none is lost, no
request fails. Possible because every migration since v0.1.0 only adds (decision 0057).

The previous release runs from its source in this repository's history (`git archive` of
its commit into a temporary directory, on this install's dependencies)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import shutil
import signal
import subprocess
import sys
import tarfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.fixtures.processes import Server, nchat_env, run_nchat, throwaway_database
from tests.realtime.nodes import eventually

V0_1_0 = "bee2c5e08b5110d8093d3f0dfcbc0571c35cf7a9"
REPO = Path(__file__).resolve().parents[2]
SECRET = "a-secret-every-node-of-the-cluster-shares-0123456789"
PASSWORD = "correct horse battery"
SEND_EVERY_S = 0.05
# One sender 20 times a second is more than a person's send budget allows.
UNTHROTTLED = {"NCHAT_RATE_SEND_PER_MIN": "100000", "NCHAT_RATE_SEND_BURST": "100000"}


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v0.1.0's `src/`, from the repository's history."""
    found = shutil.which("git") is not None and subprocess.run(
        ["git", "-C", str(REPO), "cat-file", "-e", f"{V0_1_0}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if not found or found.returncode != 0:
        # README: a copy without the history (a source archive, a shallow clone) cannot
        # run the previous release; CI's clone has it.
        pytest.skip("v0.1.0's commit is not in this copy's git history")
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", V0_1_0, "src"], capture_output=True, check=True
    ).stdout
    dest = tmp_path_factory.mktemp("v0.1.0")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "src"


@dataclass
class Cluster:
    url: str
    tmp: Path
    old_src: Path
    servers: list[Server] = field(default_factory=list)

    def start(self, name: str, *, old: bool, args: tuple[str, ...] = ()) -> Server:
        extra = {"PYTHONPATH": str(self.old_src)} if old else {}
        env = nchat_env(self.tmp / name, self.url, NCHAT_SECRET_KEY=SECRET, **UNTHROTTLED, **extra)
        command = (sys.executable, "-m", "nchat.cli.main") if old else None
        server = Server(
            env, self.tmp / f"{name}.log", args=args, **({"command": command} if command else {})
        )
        self.servers.append(server)
        server.wait_healthy()
        return server

    def stop(self, server: Server) -> None:
        server.send(signal.SIGTERM)
        assert server.wait_exit() == 0, server.output()


@pytest.fixture
def cluster(server_url: str, tmp_path: Path, previous_release: Path) -> Iterator[Cluster]:
    with throwaway_database(server_url) as url:
        made = Cluster(url, tmp_path, previous_release)
        try:
            yield made
        finally:
            for server in made.servers:
                server.kill()


@dataclass
class Client:
    """Sends as Ada and listens as Bob, through whichever node `base` names now."""

    base: str
    ada: str
    bob: str
    channel: str
    sent: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    connects: int = 0
    cursor: str | None = None

    async def send_until(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    r = await http.post(
                        f"{self.base}/api/messages",
                        json={"channel_id": self.channel, "text": f"m{n}", "client_id": f"c{n}"},
                        headers={"Authorization": f"Bearer {self.ada}"},
                    )
                except httpx.HTTPError as exc:
                    self.failures.append(f"send m{n}: {exc!r}")
                else:
                    if r.status_code == 201:
                        self.sent.append(r.json()["id"])
                    else:
                        self.failures.append(f"send m{n}: {r.status_code} {r.text[:200]}")
                await asyncio.sleep(SEND_EVERY_S)

    async def listen(self) -> None:
        """Bob's socket; when a node closes it (1012: going away), again at the node that
        serves now, from the last event seen: the socket's own resume."""
        while True:
            since = f"&since={self.cursor}" if self.cursor else ""
            ws_url = self.base.replace("http://", "ws://") + f"/api/ws?token={self.bob}{since}"
            try:
                async with websockets.connect(ws_url) as ws:
                    self.connects += 1
                    async for raw in ws:
                        self._take(json.loads(raw))
            except websockets.ConnectionClosed as exc:
                if exc.rcvd is None or exc.rcvd.code != 1012:
                    self.failures.append(f"socket closed: {exc!r}")
            except OSError as exc:  # the old node already gone: try the one serving now
                self.failures.append(f"socket connect: {exc!r}")
            await asyncio.sleep(0.05)

    def _take(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "hello" and self.cursor is None:
            self.cursor = frame["cursor"]
        elif frame["type"] == "event":
            self.cursor = frame["event"]["id"]
            if frame["event"]["type"] == "message.created":
                self.received.append(frame["event"]["data"]["id"])
        elif frame["type"] == "resync_required":
            self.failures.append("resync required")


def signed_in(base: str, login: str) -> str:
    r = httpx.post(f"{base}/api/auth/signin", json={"login": login, "password": PASSWORD})
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


def populated(base: str) -> Client:
    """Setup, Ada and Bob in a channel with history, through the old release's API."""
    owner = {
        "owner": {
            "email": "ada@example.com",
            "username": "ada",
            "password": PASSWORD,
            "display_name": "Ada",
        }
    }
    r = httpx.post(f"{base}/api/setup", json=owner)
    assert r.status_code == 201, r.text
    ada = r.json()["access_token"]
    auth = {"Authorization": f"Bearer {ada}"}
    bob = {"email": "bob@example.com", "username": "bob", "password": PASSWORD}
    assert httpx.post(f"{base}/api/users", json=bob, headers=auth).status_code == 201
    bob_id = httpx.get(f"{base}/api/users", params={"q": "bob"}, headers=auth).json()
    r = httpx.post(
        f"{base}/api/channels",
        json={"name": "upgrade", "member_ids": [u["id"] for u in bob_id["users"]]},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    channel = r.json()["id"]
    for i in range(20):
        body = {"channel_id": channel, "text": f"before the upgrade {i}"}
        assert httpx.post(f"{base}/api/messages", json=body, headers=auth).status_code == 201
    return Client(base=base, ada=ada, bob=signed_in(base, "bob"), channel=channel)


@contextlib.asynccontextmanager
async def traffic(client: Client) -> AsyncIterator[None]:
    stop = asyncio.Event()
    listener = asyncio.create_task(client.listen())

    async def listening() -> bool:
        return client.cursor is not None

    # Sends from the hello on: what committed before it is history, not the live stream.
    await eventually(listening, what="the socket's hello")
    sender = asyncio.create_task(client.send_until(stop))
    try:
        yield
    finally:
        stop.set()
        await sender

        async def all_arrived() -> bool:
            return set(client.received) >= set(client.sent)

        try:
            await eventually(all_arrived, what="every sent message on the socket")
        except AssertionError as exc:
            missing = sorted(set(client.sent) - set(client.received))
            raise AssertionError(f"{exc}: missing {missing}, failures {client.failures}") from None
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener


async def moved(client: Client, to: Server) -> None:
    """The balancer sends new requests to `to`; a moment for in-flight ones to land."""
    client.base = to.url
    await asyncio.sleep(0.5)


async def test_rolling_upgrade_from_the_previous_release_and_back(cluster: Cluster) -> None:
    old = await asyncio.to_thread(cluster.start, "old-1", old=True)
    # The previous release's code indeed (its version number is this install's metadata):
    # it has no maintenance mode.
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{old.url}/api/admin/maintenance")).status_code == 404
    client = await asyncio.to_thread(populated, old.url)

    async with traffic(client):
        await asyncio.sleep(1)
        # The upgrade: migrate while the old release serves, start the new one beside it.
        env = nchat_env(cluster.tmp / "cli", cluster.url)
        migrated = await asyncio.to_thread(run_nchat, ["db", "migrate", "up"], env)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        await asyncio.sleep(1)  # the old release goes on serving the new schema
        new = await asyncio.to_thread(cluster.start, "new", old=False)
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{new.url}/api/admin/maintenance")).status_code == 401
        await moved(client, new)
        await asyncio.to_thread(cluster.stop, old)
        await asyncio.sleep(1)
        # The rollback: the old release again, on the new schema (it cannot know it is newer:
        # --no-migrate; this version and later ones see that by themselves).
        again = await asyncio.to_thread(cluster.start, "old-2", old=True, args=("--no-migrate",))
        await moved(client, again)
        await asyncio.to_thread(cluster.stop, new)
        await asyncio.sleep(1)

    assert client.failures == []
    assert len(client.sent) > 40
    assert sorted(client.received) == sorted(set(client.sent)), "lost or repeated messages"
    assert client.connects >= 3  # the old node, the new one, the old one again
    # Nothing lost in storage either: the channel's history through the old release.
    stored = await asyncio.to_thread(history, again.url, client)
    assert set(client.sent) <= stored
    assert len(stored) == 20 + len(client.sent)


def history(base: str, client: Client) -> set[str]:
    ids: set[str] = set()
    params: dict[str, Any] = {"limit": 200}
    while True:
        r = httpx.get(
            f"{base}/api/channels/{client.channel}/messages",
            params=params,
            headers={"Authorization": f"Bearer {client.ada}"},
        )
        assert r.status_code == 200, r.text
        page = [m["id"] for m in r.json()["messages"]]
        ids.update(page)
        if not r.json()["has_more"] or not page:
            return ids
        params["before"] = min(page)  # ids are time-ordered (UUIDv7)
