"""Structured logs with request ids, and Prometheus metrics."""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path
from typing import TextIO

import structlog
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from sqlalchemy.pool import Pool, QueuePool
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.typing import EventDict, Processor, WrappedLogger

from nchat.appstate import Key

REQUEST_ID_HEADER = b"x-request-id"
MAX_REQUEST_ID_LEN = 128

# What a client could use to rewrite a console line (terminal escapes, NUL, carriage
# returns, bidirectional overrides), written the way repr() writes it: ESC becomes \x1b.
_UNSAFE = [
    *range(0x00, 0x20),
    *range(0x7F, 0xA0),
    0x061C,
    0x200E,
    0x200F,
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
    0x2028,
    0x2029,
]
_ESCAPES = {code: repr(chr(code))[1:-1] for code in _UNSAFE}
# Tracebacks keep their lines.
_ESCAPES_BUT_NEWLINE = {code: text for code, text in _ESCAPES.items() if code != ord("\n")}


# The log file logging writes to now, closed when logging is configured anew.
_open_files: list[WatchedFile] = []


def configure_logging(level: str, fmt: str, file: Path | None = None) -> None:
    """`file`: lines go there (appended) instead of to stdout."""
    while _open_files:
        _open_files.pop().close()
    if file is not None:
        _open_files.append(WatchedFile(file))
    renderer: Processor = (
        structlog.processors.JSONRenderer()  # JSON escapes control characters itself
        if fmt == "json"
        else SafeConsoleRenderer(structlog.dev.ConsoleRenderer(colors=False))
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=(
            structlog.PrintLoggerFactory()
            if not _open_files
            else structlog.WriteLoggerFactory(_open_files[0])  # type: ignore[arg-type]
        ),
        # Not cached: tests and `create_app` may reconfigure the format at run time.
        cache_logger_on_first_use=False,
    )


class WatchedFile:
    """A log file opened for appending that follows logrotate: once the path names another
    file (moved away, or deleted), the next line opens the path anew, as logging's
    WatchedFileHandler does. One stat per line; every worker process appends whole lines
    (O_APPEND), so several processes can share the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file, self._identity = self._open()

    def _open(self) -> tuple[TextIO, tuple[int, int]]:
        # Line-buffered: a line is on disk when the call returns, as on stdout.
        file = self.path.open("a", encoding="utf-8", buffering=1)
        stat = os.fstat(file.fileno())
        return file, (stat.st_dev, stat.st_ino)

    def write(self, text: str) -> int:
        try:
            stat = os.stat(self.path)
            moved = (stat.st_dev, stat.st_ino) != self._identity
        except FileNotFoundError:
            moved = True
        if moved:
            self._file.close()
            self._file, self._identity = self._open()
        return self._file.write(text)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class SafeConsoleRenderer:
    """The console renderer, with control characters from requests escaped.

    Its key=value columns quote and escape only strings with spaces, quotes or line
    breaks; a path holding ESC [2J (clear the screen) went to the terminal raw. One event
    is one line: the message is escaped whole, and whatever else reaches the line (values,
    tracebacks) keeps only its line breaks."""

    def __init__(self, renderer: structlog.dev.ConsoleRenderer) -> None:
        self.renderer = renderer

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> str:
        event = event_dict.get("event")
        if isinstance(event, str) and not event.isprintable():
            event_dict["event"] = event.translate(_ESCAPES)
        line = self.renderer(logger, name, event_dict)
        return line if line.isprintable() else line.translate(_ESCAPES_BUT_NEWLINE)


# Event delivery lag: most events reach sockets within milliseconds; seconds mean a backlog
# (a long transaction holding the horizon, a slow database, a busy process).
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
NOTIFICATION_CHANNELS = ("push", "email")
NOTIFICATION_OUTCOMES = ("queued", "sent", "failed", "dropped")


class Metrics:
    """One registry per process: with several uvicorn workers, a scrape reads the worker that
    accepted it (docs/operations.md, Monitoring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # CPU seconds, resident memory, open and maximum file descriptors (each socket is
        # one), start time; the Python version; the collector's passes (decision 0013).
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "nchat_http_requests_total",
            "HTTP requests by method, route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nchat_http_request_duration_seconds",
            "HTTP request latency by method and route",
            ["method", "route"],
            registry=self.registry,
        )
        self.notifications = Counter(
            "nchat_notifications_total",
            "Notifications by channel (push, email) and outcome: queued, sent, failed, or "
            "dropped (read, deleted, the person active or in do-not-disturb)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        # Every series from the start, at 0: a rate over a series that appears only with its
        # first failure is no rate at all, and alerts would miss that failure.
        for channel in NOTIFICATION_CHANNELS:
            for outcome in NOTIFICATION_OUTCOMES:
                self.notifications.labels(channel, outcome)
        self.jobs_waiting = Gauge(
            "nchat_jobs_waiting",
            "Background jobs due and not started yet (read at scrape time)",
            registry=self.registry,
        )
        self.jobs_oldest_waiting = Gauge(
            "nchat_jobs_oldest_waiting_seconds",
            "How long the oldest due job has waited (read at scrape time)",
            registry=self.registry,
        )
        self.event_streams = Gauge(
            "nchat_event_streams_open",
            "Event streams open in this process: /api/ws sockets and GraphQL subscriptions "
            "(read at scrape time)",
            registry=self.registry,
        )
        # A histogram rather than a gauge of the newest delivered event's age: a gauge shows
        # only the moment of the scrape, and a burst of late events between two scrapes
        # would never be seen; the histogram counts every event (one observation per event,
        # not per socket) and gives quantiles over any window.
        self.delivery_lag = Histogram(
            "nchat_event_delivery_lag_seconds",
            "From an event's created_at (its transaction's start, on the database's clock) "
            "to this process handing it to its sockets",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.pool_in_use = Gauge(
            "nchat_db_pool_connections_in_use",
            "Database connections checked out of this process's pool (read at scrape time)",
            registry=self.registry,
        )
        self.pool_idle = Gauge(
            "nchat_db_pool_connections_idle",
            "Open database connections waiting in this process's pool (read at scrape time)",
            registry=self.registry,
        )
        self.pool_overflow = Gauge(
            "nchat_db_pool_overflow_connections",
            "Connections open beyond the pool's size (read at scrape time)",
            registry=self.registry,
        )
        self.pool_max = Gauge(
            "nchat_db_pool_connections_max",
            "Connections this process's pool may open: its size plus the overflow allowed; "
            "with all in use, requests wait for one",
            registry=self.registry,
        )

        self.rate_limit_fallback = Gauge(
            "nchat_rate_limit_fallback",
            "1 while Redis cannot be reached and this process decides the volume limits "
            "with budgets of its own (decision 0061), else 0",
            registry=self.registry,
        )
        self.rate_limit_local_checks = Counter(
            "nchat_rate_limit_local_checks_total",
            "Volume-limit checks decided in this process's memory because Redis could not "
            "be reached",
            registry=self.registry,
        )

    def read_pool(self, pool: Pool) -> None:
        if not isinstance(pool, QueuePool):
            return
        self.pool_in_use.set(pool.checkedout())
        self.pool_idle.set(pool.checkedin())
        # Counted from minus the pool's size: negative while the pool is not full yet.
        self.pool_overflow.set(max(0, pool.overflow()))
        # No public accessor for the overflow allowed.
        self.pool_max.set(pool.size() + max(0, pool._max_overflow))


METRICS: Key[Metrics] = Key("metrics")


class RequestContextMiddleware:
    """Pure ASGI: assigns/echoes X-Request-ID, binds it to logs, records metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = structlog.get_logger("nchat.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_template(scope)
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(elapsed)
            self.log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == REQUEST_ID_HEADER:
            text = bytes(value).decode("latin-1").strip()
            if 0 < len(text) <= MAX_REQUEST_ID_LEN and text.isprintable():
                return text
    return None


def _route_template(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    # Unmatched paths are collapsed so scanners cannot blow up label cardinality.
    return path if isinstance(path, str) else "unmatched"
