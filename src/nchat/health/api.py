from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from nchat import __version__, appstate
from nchat.db.engine import ENGINE
from nchat.jobs import queue as jobs
from nchat.maintenance.view import MAINTENANCE
from nchat.observability import METRICS
from nchat.realtime.hub import HUB
from nchat.storage import STORAGE

router = APIRouter(prefix="/api/health", tags=["health"])
metrics_router = APIRouter(tags=["health"])

DB_CHECK_TIMEOUT_S = 3.0


async def _database_ok(request: Request) -> str | None:
    """None when the database answers, else the reason it does not."""
    engine = appstate.of(request, ENGINE)
    try:
        async with asyncio.timeout(DB_CHECK_TIMEOUT_S), engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except TimeoutError:
        return "database did not answer within 3 s"
    except Exception as exc:
        return f"database unreachable: {type(exc).__name__}"
    return None


async def _storage_ok(request: Request) -> str | None:
    """None when the file store answers, else the reason it does not."""
    storage = appstate.of(request, STORAGE)
    try:
        async with asyncio.timeout(DB_CHECK_TIMEOUT_S):
            await storage.check()
    except TimeoutError:
        return "file store did not answer within 3 s"
    except Exception as exc:
        return f"file store unreachable: {type(exc).__name__}"
    return None


@router.get("")
async def health(request: Request) -> JSONResponse:
    problem = await _database_ok(request)
    body: dict[str, Any] = {
        "status": "ok" if problem is None else "error",
        "version": __version__,
        "database": "ok" if problem is None else "unreachable",
    }
    if problem is not None:
        body["reason"] = problem
    elif (paused := appstate.of(request, MAINTENANCE).state) is not None:
        # Still alive (200): reads are served; writes wait for the end of maintenance.
        body["status"] = "maintenance"
        body["maintenance"] = {
            "message": paused.message,
            "since": paused.started_at.isoformat(),
            "retry_after_s": paused.retry_after_s,
        }
    return JSONResponse(body, status_code=200 if problem is None else 503)


@router.get("/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """Ready for traffic: not in maintenance mode, and the database and the file store both
    answer."""
    paused = appstate.of(request, MAINTENANCE).state is not None
    problems = [
        p
        for p in (
            "not ready: maintenance" if paused else None,
            await _database_ok(request),
            await _storage_ok(request),
        )
        if p
    ]
    if not problems:
        return JSONResponse({"status": "ok"})
    body = {"status": "unavailable", "reason": "; ".join(problems)}
    return JSONResponse(body, status_code=503)


@metrics_router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    gauges = appstate.of(request, METRICS)
    engine = appstate.of(request, ENGINE)
    # The pool first, before this scrape takes a connection of its own from it.
    gauges.read_pool(engine.sync_engine.pool)
    gauges.event_streams.set(len(appstate.of(request, HUB).subscribers()))
    try:
        async with asyncio.timeout(DB_CHECK_TIMEOUT_S):
            async with engine.connect() as conn:
                waiting, oldest_s = await jobs.depth(conn)
        gauges.jobs_waiting.set(waiting)
        gauges.jobs_oldest_waiting.set(oldest_s)
    except (TimeoutError, OSError, SQLAlchemyError):
        # The database away: the rest of the metrics still say so (and the readiness check).
        gauges.jobs_waiting.set(float("nan"))
        gauges.jobs_oldest_waiting.set(float("nan"))
    return Response(generate_latest(gauges.registry), media_type=CONTENT_TYPE_LATEST)
