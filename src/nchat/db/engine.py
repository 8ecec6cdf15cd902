"""Engine creation: URLs, the pool, and its idle-connection check."""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

from nchat.appstate import Key


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


ENGINE: Key[AsyncEngine] = Key("engine")

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
