"""Matrix Synapse, the peer server for side-by-side figures, driven through its client API.

Synapse is never a dependency of nchat: it lives in a virtualenv of its own under the user's
cache, made on first use and reused while it still imports. Each run gets a fresh homeserver
on 127.0.0.1 with federation and presence off and every rate limit lifted, on SQLite or on a
new database on the given PostgreSQL server; users are made with the shared-secret admin API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import queue
import secrets
import subprocess
import sys
import tempfile
import time
from base64 import b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import asyncpg
import httpx
import orjson
import psutil
from sqlalchemy.engine import make_url

from bench import workers, wrk
from bench.common import cpu_share, percentiles, tree_cpu_seconds
from bench.server import free_port, stop
from nchat.db.engine import libpq_url

SYNAPSE_VERSION = "1.163.2"
VENV = Path.home() / ".cache" / "nchat-bench" / "synapse-venv"
SERVER_NAME = "bench.local"
PASSWORD = "bench password long enough"
UNLIMITED = {"per_second": 1_000_000, "burst_count": 1_000_000}  # ints: YAML reads 1e6 as str
SYNC_TIMEOUT_MS = 30_000
SETTLE_S = 1.0  # lets the first long-polls reach the server before the first send
DRAIN_S = 30.0  # how long after the last send stragglers may still arrive


# Its default (SQLite, the faster setup here) and PostgreSQL, like nchat.
DATABASES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Synapse:
    base: str
    tokens: list[str]
    user_ids: list[str]
    room_id: str
    pid: int


def venv_python() -> Path:
    """Synapse's interpreter, installing it on first use."""
    python = VENV / "bin" / "python"
    if _works(python):
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    # psycopg2-binary ships libpq in its wheel and provides the `psycopg2` module Synapse
    # imports; the `[postgres]` extra would build psycopg2 from source (libpq-dev, a compiler).
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "psycopg2-binary>=2.9",
            f"matrix-synapse=={SYNAPSE_VERSION}",
        ],
        check=True,
    )
    if not _works(python):
        raise RuntimeError(f"matrix-synapse {SYNAPSE_VERSION} did not install into {VENV}")
    return python


def _works(python: Path) -> bool:
    if not python.exists():
        return False
    check = f"import psycopg2, synapse; assert synapse.__version__ == {SYNAPSE_VERSION!r}"
    return (
        subprocess.run([str(python), "-c", check], check=False, capture_output=True).returncode == 0
    )


@dataclass(frozen=True)
class Homeserver:
    """A running Synapse with no users or rooms yet."""

    base: str
    secret: str  # the registration shared secret (see `register`)
    pid: int
    # Its own database on the PostgreSQL server, as a libpq URL; None on SQLite.
    database_url: str | None
    log: Path  # its log file (warnings and errors)


@contextmanager
def running(database: str, *, pg_url: str | None, users: int) -> Iterator[Synapse]:
    """A fresh Synapse with `users` users, all joined to one room made by the first."""
    if users < 1:
        raise ValueError("at least one user")
    with homeserver(database, pg_url=pg_url) as hs:
        tokens, user_ids, room_id = asyncio.run(_populate(hs.base, hs.secret, users))
        yield Synapse(hs.base, tokens, user_ids, room_id, hs.pid)


@contextmanager
def homeserver(database: str, *, pg_url: str | None) -> Iterator[Homeserver]:
    """A fresh Synapse on `database` ('sqlite', or 'postgresql': a new database on the
    server at `pg_url`, dropped afterwards), stopped on exit."""
    python = venv_python()
    secret = secrets.token_hex(32)
    with (
        tempfile.TemporaryDirectory(prefix="nchat-bench-synapse-") as tmp,
        _database(database, pg_url, Path(tmp)) as db_config,
    ):
        port = free_port()
        config = Path(tmp) / "homeserver.yaml"
        # JSON is YAML, and the harness needs no YAML library for it.
        config.write_text(json.dumps(_config(Path(tmp), port, db_config, secret), indent=1))
        with (Path(tmp) / "stdout.log").open("wb") as out:
            proc = subprocess.Popen(
                [str(python), "-m", "synapse.app.homeserver", "-c", str(config)],
                cwd=tmp,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(_wait_ready(base, proc, Path(tmp)))
            db_url = None
            if pg_url and db_config["name"] == "psycopg2":
                dbname = db_config["args"]["dbname"]
                db_url = make_url(libpq_url(pg_url)).set(database=dbname)
            yield Homeserver(
                base,
                secret,
                proc.pid,
                db_url.render_as_string(hide_password=False) if db_url else None,
                Path(tmp) / "homeserver.log",
            )
        finally:
            stop(proc)


@contextmanager
def _database(database: str, pg_url: str | None, tmp: Path) -> Iterator[dict[str, Any]]:
    if database == "sqlite":
        yield {"name": "sqlite3", "args": {"database": str(tmp / "homeserver.db")}}
        return
    if database != "postgresql" or not pg_url:
        raise ValueError(f"database must be 'sqlite' or 'postgresql' with pg_url: {database!r}")
    name = f"synapse_bench_{secrets.token_hex(4)}"
    # Synapse refuses a database whose collation and ctype are not C.
    asyncio.run(
        _admin_sql(
            pg_url,
            f"CREATE DATABASE {name} WITH ENCODING 'UTF8' LC_COLLATE='C' LC_CTYPE='C' "
            "TEMPLATE template0",
        )
    )
    try:
        url = make_url(libpq_url(pg_url))
        # A socket directory comes as ?host= (the embedded server's URLs do that).
        host = url.host or url.query.get("host")
        args = {
            "user": url.username,
            "password": url.password,
            "host": host if isinstance(host, str) else None,
            "port": url.port,
            "dbname": name,
        }
        yield {
            "name": "psycopg2",
            "args": {k: v for k, v in args.items() if v is not None} | {"cp_min": 5, "cp_max": 10},
        }
    finally:
        # FORCE: a Synapse that was killed may not have closed its pool yet.
        asyncio.run(_admin_sql(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def _admin_sql(pg_url: str, sql: str) -> None:
    conn = await asyncpg.connect(libpq_url(pg_url))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _config(tmp: Path, port: int, db_config: dict[str, Any], secret: str) -> dict[str, Any]:
    log_config = tmp / "log.yaml"
    log_config.write_text(
        json.dumps(
            {
                "version": 1,
                "formatters": {
                    "plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}
                },
                "handlers": {
                    "file": {
                        "class": "logging.FileHandler",
                        "formatter": "plain",
                        "filename": str(tmp / "homeserver.log"),
                    }
                },
                "root": {"level": "WARNING", "handlers": ["file"]},
                "disable_existing_loggers": False,
            }
        )
    )
    # Any 32 bytes are an ed25519 seed: writing the key inline saves a second Synapse start
    # (`--generate-keys`) on every run.
    seed = b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return {
        "server_name": SERVER_NAME,
        "pid_file": str(tmp / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                # The client resource carries /_synapse/admin too; no federation listener.
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": db_config,
        "log_config": str(log_config),
        "media_store_path": str(tmp / "media"),
        "signing_key": f"ed25519 a_bench {seed}",
        "registration_shared_secret": secret,
        "report_stats": False,
        "enable_metrics": False,
        # No key servers and no federation: nothing reaches beyond this machine.
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "presence": {"enabled": False},
        # Passwords are never used after registration; default rounds cost ~0.2 s a user.
        "bcrypt_rounds": 4,
        "rc_message": UNLIMITED,
        "rc_registration": UNLIMITED,
        "rc_login": {"address": UNLIMITED, "account": UNLIMITED, "failed_attempts": UNLIMITED},
        "rc_joins": {"local": UNLIMITED, "remote": UNLIMITED},
        "rc_joins_per_room": UNLIMITED,
        "rc_invites": {"per_room": UNLIMITED, "per_user": UNLIMITED, "per_issuer": UNLIMITED},
        "rc_room_creation": UNLIMITED,
        "rc_admin_redaction": UNLIMITED,
        "rc_3pid_validation": UNLIMITED,
        "rc_presence": {"per_user": UNLIMITED},
        "rc_delayed_event_mgmt": UNLIMITED,
        "rc_media_create": UNLIMITED,
        "rc_profile": UNLIMITED,
        "rc_user_directory": UNLIMITED,
        "rc_reports": UNLIMITED,
    }


async def _wait_ready(base: str, proc: subprocess.Popen[bytes], tmp: Path) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        for _ in range(1200):
            if proc.poll() is not None:
                raise RuntimeError(f"Synapse exited with {proc.returncode}:\n{_logs(tmp)}")
            try:
                if (await client.get("/_matrix/client/versions")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"Synapse did not answer within 120 s:\n{_logs(tmp)}")


def _logs(tmp: Path) -> str:
    text = "".join(
        p.read_text(errors="replace")
        for p in (tmp / "stdout.log", tmp / "homeserver.log")
        if p.exists()
    )
    return text[-4000:]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _populate(base: str, secret: str, users: int) -> tuple[list[str], list[str], str]:
    """(tokens, user ids, room id): users bench0.. registered, all in bench0's public room."""
    limit = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def one(name: str) -> dict[str, Any]:
            async with limit:
                return await register(client, secret, name)

        async def join(token: str, room_id: str) -> None:
            async with limit:
                await join_room(client, token, room_id)

        registered = await asyncio.gather(*(one(f"bench{i}") for i in range(users)))
        tokens = [r["access_token"] for r in registered]
        room_id = await create_room(client, tokens[0], "bench")
        await asyncio.gather(*(join(t, room_id) for t in tokens[1:]))
    return tokens, [r["user_id"] for r in registered], room_id


async def create_room(client: httpx.AsyncClient, token: str, name: str) -> str:
    """A public room (anyone on the server may join) made by the token's user; its id."""
    created = await client.post(
        "/_matrix/client/v3/createRoom",
        headers=_auth(token),
        json={"preset": "public_chat", "name": name},
    )
    created.raise_for_status()
    room_id: str = created.json()["room_id"]
    return room_id


async def join_room(client: httpx.AsyncClient, token: str, room_id: str) -> None:
    r = await client.post(
        f"/_matrix/client/v3/join/{quote(room_id, safe='')}", headers=_auth(token)
    )
    r.raise_for_status()


async def register(client: httpx.AsyncClient, secret: str, name: str) -> dict[str, Any]:
    """Shared-secret registration: a nonce, then an HMAC-SHA1 over nonce, name, password and
    admin flag (what synapse/_scripts/register_new_matrix_user.py sends)."""
    url = "/_synapse/admin/v1/register"
    nonce_resp = await client.get(url)
    nonce_resp.raise_for_status()
    nonce: str = nonce_resp.json()["nonce"]
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join([nonce.encode(), name.encode(), PASSWORD.encode(), b"notadmin"]))
    r = await client.post(
        url,
        json={
            "nonce": nonce,
            "username": name,
            "password": PASSWORD,
            "mac": mac.hexdigest(),
            "admin": False,
        },
    )
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


def send(syn: Synapse, load: wrk.Load) -> dict[str, Any]:
    """wrk PUTting m.room.message events into the room, tokens rotating across requests."""
    process = psutil.Process(syn.pid)
    before, started = tree_cpu_seconds(process), time.monotonic()
    result = wrk.run(
        syn.base,
        "matrix_send",
        load,
        TOKENS=wrk.lua_list(syn.tokens),
        ROOM=wrk.lua_string(quote(syn.room_id, safe="")),
        RUN=wrk.lua_string(secrets.token_hex(4)),
    )
    wall = time.monotonic() - started
    # Synapse is one process: a share of 1/cores is all it can take.
    result["server_cpu_share"] = cpu_share(tree_cpu_seconds(process) - before, wall)
    return result


def fanout(
    pool: workers.Pool, syn: Synapse, subscribers: int, messages: int, rate: float
) -> dict[str, Any]:
    """Send-to-receive latency to `subscribers` long-polling /sync loops in the pool's
    processes.

    User 0 sends; subscribers take the other users' tokens in turn (one user's token for all
    when the room has two users). Latency runs from just before a send request to the sync
    response carrying the event, matched by body text."""
    prefix = f"fanout-{secrets.token_hex(4)}"
    tokens = syn.tokens[1:] or syn.tokens
    shares = [
        [tokens[i % len(tokens)] for i in range(p, subscribers, len(pool.procs))]
        for p in range(len(pool.procs))
    ]
    pool.signals.done.clear()
    busy = 0
    for index, share in enumerate(shares):
        if share:
            pool.give(index, _subscriber_job, syn.base, syn.room_id, share, prefix, messages)
            busy += 1
    try:
        pool.await_ready(busy)
        time.sleep(SETTLE_S)
        sent = asyncio.run(_send_paced(syn, prefix, messages, rate))
        arrivals, sync_errors = _collect(pool.signals, busy)
    finally:
        pool.signals.done.set()
    latencies = [(at - sent[text]) * 1000 for text, at in arrivals if text in sent]
    result = percentiles(latencies) if len(latencies) > 1 else {}
    result["expected"] = subscribers * messages
    result["delivered"] = len(latencies)
    result["sync_errors"] = sync_errors
    return result


def _collect(signals: workers.Signals, jobs: int) -> tuple[list[tuple[str, float]], int]:
    """Every job's arrivals: each reports once all its subscribers have every message, or
    when told to after DRAIN_S."""
    arrivals: list[tuple[str, float]] = []
    errors = 0
    deadline = time.monotonic() + DRAIN_S
    for _ in range(jobs):
        try:
            got, failed = signals.results.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            signals.done.set()
            got, failed = signals.results.get(timeout=60)
        arrivals.extend(got)
        errors += failed
    return arrivals, errors


async def _send_paced(syn: Synapse, prefix: str, messages: int, rate: float) -> dict[str, float]:
    sent: dict[str, float] = {}
    path = f"/_matrix/client/v3/rooms/{quote(syn.room_id, safe='')}/send/m.room.message"
    async with httpx.AsyncClient(base_url=syn.base, timeout=30) as client:
        start = time.monotonic()
        for i in range(messages):
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            text = f"{prefix} {i}"
            sent[text] = time.time()
            r = await client.put(
                f"{path}/{prefix}-{i}",
                headers=_auth(syn.tokens[0]),
                json={"msgtype": "m.text", "body": text},
            )
            r.raise_for_status()
    return sent


def _sync_filter(room_id: str, timeline_limit: int, prefix: str) -> str:
    """Only the room's timeline: no presence, account data, receipts or typing.

    Synapse caches /sync responses for minutes under a key that holds the filter text: naming
    the run in it keeps a run's initial sync from being an earlier run's cached one, whose old
    `next_batch` would make every subscriber fetch and serialize the earlier run's messages."""
    nothing = {"not_types": ["*"]}
    return json.dumps(
        {
            "presence": nothing | {"not_senders": [f"@{prefix}:{SERVER_NAME}"]},
            "account_data": nothing,
            "room": {
                "rooms": [room_id],
                "timeline": {"limit": timeline_limit},
                "state": {"lazy_load_members": True},
                "ephemeral": nothing,
                "account_data": nothing,
            },
        }
    )


def _subscriber_job(
    base: str,
    room_id: str,
    tokens: list[str],
    prefix: str,
    messages: int,
    signals: workers.Signals,
) -> None:
    asyncio.run(_subscribe(base, room_id, tokens, prefix, messages, signals))


async def _subscribe(
    base: str,
    room_id: str,
    tokens: list[str],
    prefix: str,
    messages: int,
    signals: workers.Signals,
) -> None:
    address = urlsplit(base)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    seen: list[dict[str, float]] = [{} for _ in tokens]
    errors = [0]
    initial = _sync_path({"filter": _sync_filter(room_id, 1, prefix)})
    conns = [await asyncio.open_connection(host, port) for _ in tokens]
    sinces = await asyncio.gather(
        *(_sync(c, t, initial, room_id, prefix, {}) for c, t in zip(conns, tokens, strict=True))
    )
    signals.ready.put(len(tokens))
    polls = [
        asyncio.create_task(_poll(host, port, c, t, since, room_id, prefix, arrivals, errors))
        for c, t, since, arrivals in zip(conns, tokens, sinces, seen, strict=True)
    ]
    # Until every subscriber here has every message, or the harness stops waiting.
    while not all(len(s) >= messages for s in seen):
        if await asyncio.to_thread(signals.done.wait, 0.05):
            break
    for task in polls:
        task.cancel()
    await asyncio.gather(*polls, return_exceptions=True)
    signals.results.put(([item for s in seen for item in s.items()], errors[0]))


def _sync_path(params: dict[str, str]) -> str:
    return f"/_matrix/client/v3/sync?{urlencode(params)}"


async def _poll(
    host: str,
    port: int,
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None,
    token: str,
    since: str,
    room_id: str,
    prefix: str,
    arrivals: dict[str, float],
    errors: list[int],
) -> None:
    """One long-poll in flight at a time, as a Matrix client runs /sync; on a failure, a new
    connection after a pause, counted as an error."""
    params = {"filter": _sync_filter(room_id, 100, prefix), "timeout": str(SYNC_TIMEOUT_MS)}
    try:
        while True:
            try:
                conn = conn or await asyncio.open_connection(host, port)
                path = _sync_path(params | {"since": since})
                since = await _sync(conn, token, path, room_id, prefix, arrivals)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                errors[0] += 1
                if conn:
                    conn[1].close()
                conn = None
                await asyncio.sleep(0.5)
    finally:
        if conn:
            conn[1].close()


async def _sync(
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    token: str,
    path: str,
    room_id: str,
    prefix: str,
    arrivals: dict[str, float],
) -> str:
    """One /sync; records when each of this run's messages first arrives. Returns next_batch."""
    body, at = await _get(conn, path, token)
    room = body.get("rooms", {}).get("join", {}).get(room_id, {})
    for event in room.get("timeline", {}).get("events", []):
        text = event.get("content", {}).get("body")
        if isinstance(text, str) and text.startswith(prefix):
            arrivals.setdefault(text, at)
    since: str = body["next_batch"]
    return since


async def _get(
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], path: str, token: str
) -> tuple[Any, float]:
    """GET on a kept-alive connection; (JSON body, arrival time). Bare HTTP/1.1 over asyncio
    streams: httpx took more CPU per long-poll than Synapse did to answer it, so with 100
    subscribers the clients, not the server, set the latency."""
    reader, writer = conn
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {SERVER_NAME}\r\n"
        f"Authorization: Bearer {token}\r\n\r\n".encode()
    )
    await writer.drain()
    status = (await reader.readline()).split(b" ", 2)
    headers: dict[bytes, bytes] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = await _read_chunked(reader)
    else:
        body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    at = time.time()
    if len(status) < 2 or status[1] != b"200":
        raise ValueError(f"/sync answered {status!r}: {body[:200]!r}")
    return orjson.loads(body), at


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while size := int((await reader.readline()).split(b";")[0], 16):
        parts.append(await reader.readexactly(size))
        await reader.readline()
    await reader.readline()  # the empty trailer
    return b"".join(parts)
