"""A real server on a real port for WebSocket tests (uvicorn in the test's event loop)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from nchat.app import create_app
from nchat.cli.main import WS_MAX_FRAME_BYTES
from tests.conftest import make_settings


@dataclass
class LiveServer:
    app: FastAPI
    server: uvicorn.Server
    port: int

    def ws_url(self, token: str | None = None, **params: str) -> str:
        query = {**({"token": token} if token else {}), **params}
        suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
        return f"ws://127.0.0.1:{self.port}/api/ws{suffix}"


async def start_live(database_url: str, data_dir: Path, **overrides: object) -> LiveServer:
    app = create_app(make_settings(database_url, data_dir, **overrides))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        ws="websockets-sansio",
        # As `nchat serve` runs it.
        ws_per_message_deflate=app.state.settings.ws_compression,
        ws_max_size=WS_MAX_FRAME_BYTES,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the server did not start"
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    app.state.serve_task = task
    # A closed socket's user goes offline a moment later, not after the production grace
    # period; the grace itself has a test of its own.
    app.state.presence_keeper.grace_s = 0.2
    app.state.presence_keeper.sweep_s = 0.1
    return LiveServer(app, server, port)


async def stop_live(live: LiveServer) -> None:
    live.server.should_exit = True
    await live.app.state.serve_task


@pytest.fixture
async def live(database_url: str, tmp_path: Path, clean_db: None) -> AsyncIterator[LiveServer]:
    server = await start_live(database_url, tmp_path)
    yield server
    await stop_live(server)
