"""create_app(settings): routers, middleware, error handlers, lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.exceptions import HTTPException as StarletteHTTPException

from nchat import __version__, background, openapi
from nchat.accounts.api import router as auth_router
from nchat.admin.api import router as admin_router
from nchat.admin_channels import tasks as channel_purge
from nchat.admin_channels.api import router as admin_channels_router
from nchat.admin_users.api import auth_router as password_reset_router
from nchat.admin_users.api import router as admin_users_router
from nchat.appstate import get, put
from nchat.auth.session_cache import SESSION_CACHE, SessionCache
from nchat.auth.streams import STREAM_GUARD, StreamGuard
from nchat.background import BACKGROUND
from nchat.channels.access_cache import ACCESS_CACHE, AccessCache
from nchat.channels.api import router as channels_router
from nchat.channels.listing import LIST_COPIES, ListCopies
from nchat.config import SETTINGS, Settings
from nchat.db.engine import ENGINE, create_engine
from nchat.db.transaction import AFTER_COMMIT, AfterCommit, Effects
from nchat.errors import NchatError, error_body
from nchat.exports import tasks as exports_tasks
from nchat.exports.api import router as exports_router
from nchat.files.api import AVATAR_BODY_BYTES, AVATAR_PATH, UPLOAD_PATH
from nchat.files.api import router as files_router
from nchat.gateway.api import heartbeat_of
from nchat.gateway.api import router as gateway_router
from nchat.gateway.presence_api import router as realtime_router
from nchat.graphql.api import make_router as make_graphql_router
from nchat.health.api import metrics_router
from nchat.health.api import router as health_router
from nchat.http_edge.body_limit import UNLIMITED_BYTES, BodyLimit
from nchat.http_edge.headers import SecurityHeaders
from nchat.http_edge.origins import WebSocketOrigin, cors
from nchat.http_edge.pages import html_pages
from nchat.limits import LIMITS, Limits, Rules, make_limiter
from nchat.maintenance.api import router as maintenance_router
from nchat.maintenance.middleware import PausedWrites
from nchat.maintenance.view import MAINTENANCE, MaintenanceView
from nchat.messages.api import router as messages_router
from nchat.notifications.api import router as notifications_router
from nchat.notifications.runtime import VAPID_PUBLIC_KEY
from nchat.observability import METRICS, Metrics, RequestContextMiddleware, configure_logging
from nchat.realtime import presence
from nchat.realtime.bus import BUS, Bus
from nchat.realtime.hub import HUB, Hub
from nchat.realtime.presence import KEEPER
from nchat.realtime.redis_bus import make_bus
from nchat.realtime.topics import EVENTS
from nchat.realtime.wire import ServerSend
from nchat.retention.api import router as retention_router
from nchat.search import language as search_language
from nchat.search.api import router as search_router
from nchat.setup.api import router as setup_router
from nchat.storage import STORAGE, make_storage
from nchat.sync.api import router as sync_router
from nchat.users.api import router as users_router
from nchat.web import assets as web_assets
from nchat.web import routes as web_routes

logger = structlog.get_logger("nchat.app")
YOUNG_GC_THRESHOLD = 10_000


def create_app(settings: Settings) -> FastAPI:
    if not settings.database_url:
        raise ValueError("create_app needs settings.database_url (the CLI resolves it)")
    configure_logging(settings.log_level, settings.log_format, settings.log_file)
    metrics = Metrics()

    app = FastAPI(
        title="nchat",
        version=__version__,
        lifespan=_lifespan,
        openapi_url="/api/openapi.json",
        # The docs page is the web package's, on the vendored Swagger UI (no CDN).
        docs_url=None,
        redoc_url=None,
    )
    put(app, SETTINGS, settings)
    put(app, METRICS, metrics)
    _install_middleware(app, settings, metrics)
    _install_error_handlers(app)
    # Each router carries its full prefix so route templates (metrics labels) are whole paths.
    # Routes are matched in this order, one by one: the busiest routers come first (a send
    # matched behind six routers cost about 7% of its server time).
    for router in (
        messages_router,
        channels_router,
        files_router,
        search_router,
        sync_router,
        health_router,
        setup_router,
        auth_router,
        users_router,
        admin_router,
        admin_channels_router,
        maintenance_router,
        retention_router,
        admin_users_router,
        password_reset_router,
        notifications_router,
        exports_router,
        gateway_router,
        realtime_router,
        metrics_router,
    ):
        app.include_router(router)
    app.include_router(make_graphql_router(settings))
    # The web client last: `/`, its files and the docs page; any other GET no route
    # matched is one of the client's own paths (or the JSON 404).
    site = web_assets.load()
    app.include_router(web_routes.make_router(site))
    app.router.default = web_routes.client_routes(site, app.router.not_found)
    openapi.install(app)
    return app


def _after_commit(bus: Bus, session_cache: SessionCache) -> AfterCommit:
    """What a committed request tells the rest of the process and the other nodes: new
    events wake every hub, changed users leave every session cache."""

    async def tell(effects: Effects) -> None:
        if effects.events:
            await bus.publish(EVENTS)
        if effects.users:
            await session_cache.forget(effects.users)

    return tell


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Make what the requests share, keyed in the app's state (appstate.py), and stop it."""
    settings = get(app, SETTINGS)
    rules = Rules.from_settings(settings)  # refuses unknown exempt roles
    storage = make_storage(settings)
    await storage.start()  # a store that cannot be reached stops the start, saying why
    put(app, STORAGE, storage)
    limiter = make_limiter(settings, get(app, METRICS))
    put(app, LIMITS, Limits(limiter, rules))
    engine = create_engine(str(settings.database_url), pool_size=settings.db_pool_size)
    put(app, ENGINE, engine)
    await _check_search_language(engine, settings)
    bus = make_bus(
        database_url=str(settings.database_url),
        redis_url=settings.redis_url,
        redis_prefix=settings.redis_prefix,
    )
    put(app, BUS, bus)
    session_cache = SessionCache(bus)
    put(app, SESSION_CACHE, session_cache)
    put(app, AFTER_COMMIT, _after_commit(bus, session_cache))
    put(app, ACCESS_CACHE, AccessCache())
    put(app, LIST_COPIES, ListCopies())
    hub = Hub(engine, bus, lag=get(app, METRICS).delivery_lag)
    put(app, HUB, hub)
    guard = StreamGuard(engine, hub, session_cache)
    put(app, STREAM_GUARD, guard)
    keeper = presence.Keeper(engine, bus, lambda: heartbeat_of(app))
    put(app, KEEPER, keeper)
    put(app, MAINTENANCE, maintenance := MaintenanceView(engine, bus))
    await bus.start()
    await maintenance.start()  # known before the first request
    await hub.start()
    await guard.start()
    await keeper.start()
    jobs = background.make(settings, engine, get(app, METRICS), storage)
    _put_background(app, jobs)
    await jobs.start()
    # What startup made (modules, the app, SQLAlchemy's tables) lives as long as the
    # process: freeze it out of the cyclic garbage collector, whose full passes over it
    # otherwise stall a request for 30-100 ms now and then (measured on channel lists).
    gc.collect()
    gc.freeze()
    # Collect the young generation every 10,000 allocations, not 700: fanning one event
    # out to a thousand sockets allocates thousands of short-lived objects, and the
    # default promoted those still in flight to the old generation, whose full passes
    # (100-350 ms at a thousand sockets) then ran every few seconds (decision 0013).
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])
    try:
        yield
    finally:
        await jobs.stop()
        # Sockets still open are told to reconnect (1012): elsewhere, or here once back.
        await keeper.stop()
        await guard.stop()
        await hub.stop()
        await maintenance.stop()
        await bus.stop()
        await limiter.close()
        await engine.dispose()
        await storage.stop()


def _put_background(app: FastAPI, jobs: background.Background) -> None:
    """What requests use of the background work: the job queue (to defer jobs on) and the
    Web Push key."""
    put(app, BACKGROUND, jobs)
    put(app, VAPID_PUBLIC_KEY, jobs.notifications.vapid_public_key)
    put(app, exports_tasks.JOBS, jobs.jobs)
    put(app, channel_purge.JOBS, jobs.jobs)


async def _check_search_language(engine: AsyncEngine, settings: Settings) -> None:
    """Say so when the database stems for another language than NCHAT_SEARCH_LANGUAGE. A
    database not reachable yet is no reason not to start (the readiness check reports it)."""
    try:
        async with engine.connect() as conn:
            stemmed = await search_language.current(conn)
    except (OSError, SQLAlchemyError):
        return
    if stemmed is not None and stemmed != settings.search_language:
        logger.warning(
            "search stems for another language than NCHAT_SEARCH_LANGUAGE; "
            "run `nchat search reindex` to switch",
            database=stemmed,
            setting=settings.search_language,
        )


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` workers: settings (and the resolved URL) from env."""
    return create_app(Settings())


def _install_middleware(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    # Each add wraps the ones before it: innermost first. The body limit comes before
    # anything reads; CORS and the security headers see every response, the 413s too.
    # Uploads stream to the store under the app config's own limit (files/service.py);
    # avatars are read whole, so theirs is fixed here. Maintenance mode's refusal of writes
    # sits inside the body limit, which then bounds the GraphQL bodies it reads.
    app.add_middleware(PausedWrites)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        prefixes={UPLOAD_PATH: UNLIMITED_BYTES, AVATAR_PATH: AVATAR_BODY_BYTES},
    )
    if settings.cors_origins:
        app.add_middleware(cors, origins=settings.cors_origins)
    graphiql = settings.environment == "development"
    app.add_middleware(SecurityHeaders, pages=html_pages(graphiql=graphiql))
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.add_middleware(WebSocketOrigin, origins=settings.cors_origins)
    app.add_middleware(ServerSend)  # outermost: it sees the server's own send


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(NchatError)
    async def nchat_error(_: Request, exc: NchatError) -> JSONResponse:
        return JSONResponse(exc.envelope(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_clean_error(e) for e in exc.errors()]
        if any(e["type"] == "json_invalid" for e in errors):
            body = error_body("invalid_json", "The request body is not valid JSON")
            return JSONResponse(body, status_code=400)
        body = error_body("validation_error", "The request is not valid", {"errors": errors})
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "HTTP error"
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # The router names only the methods of the first route it matched; a path served
            # by several routes supports all of theirs, as the OpenAPI document lists.
            allowed = openapi.allow_header(request.app, request.scope["path"])
            headers["Allow"] = allowed or headers.get("Allow", "")
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=headers)

    @app.exception_handler(OSError)
    @app.exception_handler(DBAPIError)
    async def database_unavailable(_: Request, exc: Exception) -> JSONResponse:
        if (
            isinstance(exc, DBAPIError)
            and not exc.connection_invalidated
            and not isinstance(exc, OperationalError | InterfaceError)
        ):
            return await unexpected(_, exc)
        logger.warning("database unavailable", error=str(exc))
        body = error_body("database_unavailable", "The database is unreachable; retry shortly")
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return JSONResponse(
            error_body("internal_error", "Something went wrong on our side"), status_code=500
        )


def _clean_error(error: Any) -> dict[str, Any]:
    """Pydantic's error minus `input` and `ctx`: they may echo secrets or not serialise."""
    loc = [str(part) for part in error.get("loc", ())]
    return {"loc": loc, "msg": str(error.get("msg", "")), "type": str(error.get("type", ""))}
