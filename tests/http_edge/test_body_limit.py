"""Request bodies are bounded: refused before reading when declared too large, and cut
off as soon as a streamed body passes the limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from nchat.http_edge.body_limit import BodyLimit
from tests.realtime.conftest import start_live, stop_live

LIMIT = 1024 * 1024  # the default NCHAT_MAX_BODY_BYTES, which the shared app runs with
CHUNK = 64 * 1024


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
    }


def assert_refused(status: int, body: bytes, limit: int = LIMIT) -> None:
    assert status == 413
    assert orjson.loads(body) == {
        "error": {
            "code": "body_too_large",
            "message": "The request body is too large",
            "details": {"max_bytes": limit},
        }
    }


async def test_a_declared_length_over_the_limit_is_refused_unread(
    app: FastAPI, clean_db: None
) -> None:
    reads = 0

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": reads < 32}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    for length in (b"104857600", b"9" * 5000):  # the second: more digits than int() takes
        sent.clear()
        headers = [(b"content-type", b"application/json"), (b"content-length", length)]
        await app(http_scope("POST", "/api/auth/signin", headers), receive, send)
        assert reads == 0
        assert_refused(sent[0]["status"], sent[1]["body"])
    names = dict(sent[0]["headers"])
    assert names[b"connection"] == b"close"
    # Refused at the edge, yet logged, counted and given the security headers.
    assert b"x-request-id" in names and names[b"x-content-type-options"] == b"nosniff"


async def test_a_real_server_answers_413_without_the_body_being_sent(
    database_url: str, tmp_path: Path, clean_db: None
) -> None:
    live = await start_live(database_url, tmp_path)
    reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
    try:
        writer.write(
            b"POST /api/auth/signin HTTP/1.1\r\nHost: test\r\n"
            b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
        )
        await writer.drain()
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            fields = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:] if line)
            body = await reader.readexactly(int(fields[b"content-length"]))
            assert await reader.read() == b""  # and the connection is closed
    finally:
        writer.close()  # a server still waiting for the body would not stop
        await stop_live(live)
    assert head.startswith(b"HTTP/1.1 413 ")
    assert_refused(413, body)


class Chunks:
    """A streamed (chunked) request body that counts what the server pulled from it."""

    def __init__(self, total: int, piece: bytes = b"x" * CHUNK) -> None:
        self.total = total
        self.piece = piece
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            self.pulled += len(self.piece)
            yield self.piece


async def test_a_streamed_body_is_cut_off_at_the_limit(client: httpx.AsyncClient) -> None:
    body = Chunks(100 * LIMIT)
    r = await client.post(
        "/api/auth/signin", content=body, headers={"Content-Type": "application/json"}
    )
    assert_refused(r.status_code, r.content)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert body.pulled <= LIMIT + CHUNK  # reading stopped at the first chunk past the limit


async def test_graphql_bodies_are_bounded_too(client: httpx.AsyncClient) -> None:
    body = Chunks(10 * LIMIT)
    r = await client.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert_refused(r.status_code, r.content)


async def test_bodies_within_the_limit_reach_the_route(client: httpx.AsyncClient) -> None:
    # Nearly the limit, declared: the route reads and validates it (the password is long).
    declared = orjson.dumps({"login": "ada", "password": "p" * (LIMIT - 100)})
    assert len(declared) <= LIMIT
    r = await client.post(
        "/api/auth/signin", content=declared, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    # Streamed, under the limit: read whole.
    streamed = Chunks(LIMIT, b" " * CHUNK)
    r = await client.post(
        "/api/auth/signin", content=streamed, headers={"Content-Type": "application/json"}
    )
    assert r.status_code in (400, 422)
    assert r.json()["error"]["code"] in ("invalid_json", "validation_error")
    assert streamed.pulled == LIMIT


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body and answers with its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


async def call(app: Any, path: str, size: int, *, declared: bool) -> tuple[int, bytes]:
    pieces = [b"x" * 1024] * (size // 1024)
    header = (
        (b"content-length", str(size).encode()) if declared else (b"transfer-encoding", b"chunked")
    )

    async def receive() -> Message:
        body = pieces.pop() if pieces else b""
        return {"type": "http.request", "body": body, "more_body": bool(pieces)}

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(http_scope("POST", path, [header]), receive, send)
    return sent[0]["status"], sent[1]["body"]


async def test_path_prefixes_may_have_limits_of_their_own() -> None:
    guarded = BodyLimit(echo, max_bytes=4096, prefixes={"/api/uploads/": 64 * 1024})
    for declared in (True, False):
        assert await call(guarded, "/api/uploads/new", 32 * 1024, declared=declared) == (
            200,
            b"32768",
        )
        status, body = await call(guarded, "/api/messages", 32 * 1024, declared=declared)
        assert_refused(status, body, 4096)
        status, body = await call(guarded, "/api/uploads/new", 128 * 1024, declared=declared)
        assert_refused(status, body, 64 * 1024)


async def test_a_declared_length_within_the_limit_costs_nothing() -> None:
    seen: list[Receive] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(receive)

    async def receive() -> Message:
        return {"type": "http.request", "body": b"{}"}

    async def send(message: Message) -> None:
        pass

    guarded = BodyLimit(app, max_bytes=4096)
    await guarded(http_scope("POST", "/api/messages", [(b"content-length", b"2")]), receive, send)
    await guarded(http_scope("GET", "/api/channels", []), receive, send)
    await guarded({"type": "websocket", "path": "/api/ws", "headers": []}, receive, send)
    # The server's own receive: nothing wrapped, nothing counted.
    assert seen == [receive, receive, receive]
