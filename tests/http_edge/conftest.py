"""Apps with settings of their own, in process (httpx) or on a real port (uvicorn)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from nchat.app import create_app
from tests.conftest import make_settings


@asynccontextmanager
async def started(database_url: str, tmp_path: Path, **overrides: object) -> AsyncIterator[FastAPI]:
    app = create_app(make_settings(database_url, tmp_path, **overrides))
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def client_of(app: FastAPI, **transport: bool) -> AsyncIterator[httpx.AsyncClient]:
    asgi = httpx.ASGITransport(app=app, **transport)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=asgi, base_url="http://test") as client:
        yield client
