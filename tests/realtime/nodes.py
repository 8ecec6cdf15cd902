"""Helpers for tests with several nchat processes and real buses: whole process trees that are
always reaped, a team set up over REST, WebSocket readers that track the resume cursor, a
view of the bus connections in PostgreSQL and Redis, and a relay whose Redis connections can
be made to go silent."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import psutil
import redis.asyncio as redis
import websockets
from websockets.asyncio.client import ClientConnection

from nchat.db.engine import libpq_url
from nchat.realtime.bus import APPLICATION_NAME
from tests.fixtures.databases import acreate_database, adrop_database, with_database
from tests.fixtures.processes import Server

SECRET = "shared-secret-of-the-cluster-long-enough-for-hs256"
PASSWORD = "correct horse battery"
# A database number of its own (pub/sub itself ignores it: channels are server-wide).
REDIS_URL = "redis://127.0.0.1:6379/7"
TIMEOUT = 15.0


# -- processes -----------------------------------------------------------------------------


@contextlib.contextmanager
def running(env: dict[str, str], log_path: Path, *, args: tuple[str, ...] = ()) -> Iterator[Server]:
    """`nchat serve` as a child; it and its children are killed however the test ends."""
    server = Server(env, log_path, args=args)
    try:
        yield server
    finally:
        server.kill()  # with its whole process tree


async def healthy(*servers: Server) -> None:
    await asyncio.gather(*(asyncio.to_thread(s.wait_healthy) for s in servers))


def workers(server: Server) -> list[psutil.Process]:
    """The worker processes of `nchat serve --workers N`: the children holding its socket."""
    found = []
    for child in psutil.Process(server.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(
                c.status == psutil.CONN_LISTEN and c.laddr.port == server.port
                for c in child.net_connections(kind="tcp")
            ):
                found.append(child)
    return found


def serving_process(candidates: list[psutil.Process], server_port: int, client_port: int) -> int:
    """The pid among `candidates` that holds the server side of the client's connection."""
    for proc in candidates:
        for conn in proc.net_connections(kind="tcp"):
            if conn.laddr.port == server_port and conn.raddr and conn.raddr.port == client_port:
                return proc.pid
    raise AssertionError(f"no process serves the connection from port {client_port}")


# -- databases and polling -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def throwaway_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the test server, dropped after (safe under xdist)."""
    name = f"nchat_t_{uuid.uuid4().hex[:16]}"
    await acreate_database(server_url, name)
    try:
        yield with_database(server_url, name)
    finally:
        await adrop_database(server_url, name)


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = TIMEOUT, what: str = "condition"
) -> None:
    """Poll an async check until it holds; fail after about `timeout` seconds."""
    interval = 0.05
    for _ in range(int(timeout / interval)):
        if await check():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"not within {timeout} s: {what}")


async def pg_bus_backends(database_url: str) -> set[int]:
    """Server pids of the bus connections (LISTEN) into this database."""
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity "
            "WHERE application_name = $1 AND datname = current_database()",
            APPLICATION_NAME,
        )
    finally:
        await conn.close()
    return {row["pid"] for row in rows}


async def kill_pg_bus_backends(database_url: str, pids: set[int]) -> None:
    """Terminate these bus connections into this database (pg_terminate_backend)."""
    conn = await asyncpg.connect(libpq_url(database_url))
    try:
        rows = await conn.fetch(
            "SELECT pid, pg_terminate_backend(pid) AS done FROM pg_stat_activity "
            "WHERE application_name = $1 AND datname = current_database() "
            "AND pid = ANY($2::int[])",
            APPLICATION_NAME,
            sorted(pids),
        )
    finally:
        await conn.close()
    assert {row["pid"] for row in rows if row["done"]} == pids, rows


def _local_ports(pids: list[int]) -> set[int]:
    ports: set[int] = set()
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            for conn in psutil.Process(pid).net_connections(kind="tcp"):
                if conn.raddr and conn.raddr.port == 6379:
                    ports.add(conn.laddr.port)
    return ports


async def redis_clients(pids: list[int], kind: str = "pubsub") -> dict[int, int]:
    """Redis connections of type `kind` made by these processes: {client id: local port}.

    Pub/sub is server-wide, so other tests' buses are on the same server: they are told
    apart by the client's address, which is one of these processes' sockets."""
    ports = _local_ports(pids)
    client = redis.Redis.from_url(REDIS_URL)
    try:
        listing = await client.client_list(_type=kind)
    finally:
        await client.aclose()
    found: dict[int, int] = {}
    for entry in listing:
        port = int(str(entry["addr"]).rsplit(":", 1)[1])
        if port in ports:
            found[int(entry["id"])] = port
    return found


async def kill_redis_clients(ids: set[int]) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for client_id in ids:
            await client.client_kill_filter(_id=str(client_id))
    finally:
        await client.aclose()


@dataclass
class Link:
    """One client connection through the relay, and whether it still passes anything."""

    silent: bool = False


class SilentRelay:
    """A TCP relay to the test Redis whose connections can be made to go silent: still open,
    passing nothing either way. That is all a client sees of a peer gone without a word (a
    host that died, a NAT or load balancer that forgot the flow, a hung server): no FIN, no
    reset, no answer. Connections made afterwards pass again, as a reconnect would reach a
    healthy server."""

    def __init__(self) -> None:
        self.links: list[Link] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{urlsplit(REDIS_URL).path}"

    def silence(self) -> int:
        """Every connection so far goes silent; how many there are."""
        for link in self.links:
            link.silent = True
        return len(self.links)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        upstream = urlsplit(REDIS_URL)
        up_reader, up_writer = await asyncio.open_connection(upstream.hostname, upstream.port)
        self._writers.append(up_writer)
        link = Link()
        self.links.append(link)
        await asyncio.gather(_pipe(reader, up_writer, link), _pipe(up_reader, writer, link))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            if not link.silent:  # silent: read and dropped, so the sender never notices
                writer.write(data)
                await writer.drain()
    writer.close()


@contextlib.asynccontextmanager
async def silent_relay() -> AsyncIterator[SilentRelay]:
    relay = SilentRelay()
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()


# -- a team over REST ----------------------------------------------------------------------


@dataclass
class Team:
    owner_token: str
    member_id: str
    member_token: str
    channel_id: str

    @property
    def owner(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.owner_token}"}


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


async def set_up_team(http: httpx.AsyncClient, url: str) -> Team:
    """The owner (POST /api/setup), a member made by the owner who signs in, and a channel
    with both of them."""
    owner = _created(
        await http.post(
            f"{url}/api/setup",
            json={
                "owner": {
                    "email": "owner@example.com",
                    "username": "owner",
                    "password": PASSWORD,
                    "display_name": "Owner",
                }
            },
        )
    )
    headers = {"Authorization": f"Bearer {owner['access_token']}"}
    member = _created(
        await http.post(
            f"{url}/api/users",
            headers=headers,
            json={"email": "bob@example.com", "username": "bob", "password": PASSWORD},
        )
    )
    signin = _created(
        await http.post(f"{url}/api/auth/signin", json={"login": "bob", "password": PASSWORD})
    )
    channel = _created(
        await http.post(
            f"{url}/api/channels",
            headers=headers,
            json={"name": "fan-out", "type": "public", "member_ids": [member["id"]]},
        )
    )
    return Team(owner["access_token"], member["id"], signin["access_token"], channel["id"])


async def send(http: httpx.AsyncClient, url: str, team: Team, text: str) -> str:
    """The owner posts a message over REST; its id."""
    response = await http.post(
        f"{url}/api/messages",
        headers=team.owner,
        json={"channel_id": team.channel_id, "text": text},
    )
    message = _created(response)
    return str(message["id"])


# -- WebSocket clients ---------------------------------------------------------------------


def ws_url(http_url: str, token: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"token": token, **params}.items())
    return f"{http_url.replace('http://', 'ws://', 1)}/api/ws?{query}"


def connect(http_url: str, token: str, **params: str) -> websockets.connect:
    return websockets.connect(ws_url(http_url, token, **params), open_timeout=TIMEOUT)


async def next_frame(ws: ClientConnection, kind: str, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next frame of this type (others in between are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            data: dict[str, Any] = json.loads(await ws.recv())
            if data["type"] == kind:
                return data


@dataclass
class Stream:
    """What one user's client has seen across its connections: the ids of the messages,
    in the order they arrived, and the cursor of the last event (where to resume)."""

    cursor: str | None = None
    messages: list[str] = field(default_factory=list)

    def take(self, frame: dict[str, Any]) -> None:
        if frame["type"] != "event":
            return
        event = frame["event"]
        self.cursor = event["id"]
        if event["type"] == "message.created":
            self.messages.append(event["data"]["id"])

    async def read_until(
        self, ws: ClientConnection, done: Callable[[], bool], timeout: float = TIMEOUT
    ) -> None:
        try:
            async with asyncio.timeout(timeout):
                while not done():
                    self.take(json.loads(await ws.recv()))
        except TimeoutError as exc:
            raise AssertionError(f"not done within {timeout} s; seen so far: {self}") from exc

    async def read_messages(self, ws: ClientConnection, count: int) -> None:
        """Until `count` messages in all have been seen."""
        await self.read_until(ws, lambda: len(self.messages) >= count)

    async def read_until_closed(self, ws: ClientConnection, timeout: float = TIMEOUT) -> None:
        """Everything the connection still delivers, until it drops (fails if it does not)."""
        async with asyncio.timeout(timeout):
            with contextlib.suppress(websockets.ConnectionClosed):
                while True:
                    self.take(json.loads(await ws.recv()))
        assert ws.state is websockets.State.CLOSED

    async def quiet(self, ws: ClientConnection, wait: float = 0.5) -> None:
        """Read for `wait` seconds: whatever arrives is recorded (and so caught if extra)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                while True:
                    self.take(json.loads(await ws.recv()))
