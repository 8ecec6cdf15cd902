"""Engine creation and the transaction boundary of a request."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

from nchat.db import driver
from nchat.db.driver import is_autocommit
from nchat.errors import NchatError
from nchat.realtime.topics import AUTH_CHANGED, EVENTS, WROTE_EVENTS


def async_url(url: str) -> str:
    """`postgresql://...` as operators write it -> the asyncpg dialect SQLAlchemy needs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """The plain `postgresql://` form that psql, pg_dump and pg_restore understand."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


# A pooled connection idle longer than this is checked before use.
PING_AFTER_IDLE_S = 1.0
_CHECKED_IN_AT = "nchat_checked_in_at"


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        json_serializer=lambda obj: orjson.dumps(obj).decode(),
        json_deserializer=orjson.loads,
        # Short OLTP queries only: JIT compilation costs more than it ever saves here (a
        # 500-channel list paid 200 ms of it).
        connect_args={"server_settings": {"jit": "off"}},
    )
    event.listen(engine.sync_engine.pool, "checkin", _checked_in)
    event.listen(engine.sync_engine.pool, "checkout", _ping_if_idle)
    return engine


def _checked_in(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_CHECKED_IN_AT] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
    """Pessimistic disconnect handling, only for connections that sat idle.

    SQLAlchemy's pool_pre_ping costs three round trips on asyncpg (BEGIN, a ping, ROLLBACK)
    on every checkout: three of a send's eight. A connection back in use within a second
    was fine a moment ago; one that sat longer (a restarted server, a proxy's idle cut) is
    pinged with one round trip, and a dead one is replaced before anyone uses it
    (DisconnectionError makes the pool retry with a fresh connection)."""
    idle_since = record.info.get(_CHECKED_IN_AT)
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
        return
    try:
        await_only(dbapi_connection.driver_connection.fetchrow(";"))
    except Exception as exc:  # whatever a dead connection raises, it is dead
        raise DisconnectionError(str(exc)) from exc


READ_METHODS = frozenset({"GET", "HEAD"})
_AUTOCOMMIT = "nchat_autocommit"
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def autocommit(endpoint: Endpoint) -> Endpoint:
    """Mark an endpoint whose every write is one statement, or runs inside `atomic()`, and
    that raises no error after writing: its request runs without BEGIN and COMMIT."""
    setattr(endpoint, _AUTOCOMMIT, True)
    return endpoint


def _runs_autocommit(request: Request) -> bool:
    """Reads need no transaction: at READ COMMITTED every statement takes its own snapshot
    anyway, so BEGIN and COMMIT were two round trips that changed nothing."""
    return request.method in READ_METHODS or getattr(
        request.scope.get("endpoint"), _AUTOCOMMIT, False
    )


async def request_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """One transaction per request: committed when the handler returns, rolled back on error
    (or, for reads and endpoints marked `autocommit`, a statement at a time).

    Scope "function" runs the commit before the response is sent, so a client never sees a
    success for a write that then failed to commit.
    """
    async with transaction(request.app, autocommit=_runs_autocommit(request)) as conn:
        yield conn


@asynccontextmanager
async def atomic(conn: AsyncConnection) -> AsyncIterator[None]:
    """The block's statements as one transaction: on a connection in a transaction already,
    that one; on an autocommit one, a transaction of the block's own."""
    if not is_autocommit(conn):
        yield
        return
    async with driver.transaction(conn):
        yield


@asynccontextmanager
async def transaction(app: Any, *, autocommit: bool = False) -> AsyncIterator[AsyncConnection]:
    """The request boundary: commit or roll back once, then wake the event readers."""
    engine: AsyncEngine = app.state.engine
    async with engine.connect() as conn:
        if autocommit:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        tx = await conn.begin()
        try:
            yield conn
        except NchatError as exc:
            await (tx.commit() if exc.keep_writes else tx.rollback())
            await _after(app, conn, committed=exc.keep_writes)
            raise
        except BaseException:
            await tx.rollback()
            await _after(app, conn, committed=False)
            raise
        else:
            await tx.commit()
            await _after(app, conn, committed=True)


async def _after(app: Any, conn: AsyncConnection, *, committed: bool) -> None:
    """What a committed transaction changed, told to whoever keeps a view of it: the hubs
    (new events) and the session caches (users whose sessions or rows changed). The marks
    live in `info`, which belongs to the pooled connection: they are taken off either way.
    A connection lost on the way has no marks left (and reading its `info` would reconnect
    it, synchronously)."""
    if conn.invalidated:
        return
    wrote = conn.info.pop(WROTE_EVENTS, False)
    users = conn.info.pop(AUTH_CHANGED, None)
    if not committed:
        return
    if wrote:
        await app.state.bus.publish(EVENTS)
    if users:
        await app.state.session_cache.forget(users)


Conn = Annotated[AsyncConnection, Depends(request_connection, scope="function")]
