"""Structured logs with request ids, and Prometheus metrics."""

from __future__ import annotations

import logging
import time
import uuid

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
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


def configure_logging(level: str, fmt: str) -> None:
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
        # Not cached: tests and `create_app` may reconfigure the format at run time.
        cache_logger_on_first_use=False,
    )


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


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
