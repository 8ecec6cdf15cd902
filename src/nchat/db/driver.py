"""The hottest statements, run on the driver connection itself.

SQLAlchemy's execution layer (its greenlet hop, execution context, cursor adapter and result)
cost a send about as much CPU as asyncpg's own work for the statement. A `DriverStatement` is
a SQLAlchemy statement compiled once for asyncpg; it runs straight on the request's
connection when that connection is in autocommit (the statement is its own transaction, or
part of an `atomic()` block, which is a driver transaction too), and through SQLAlchemy
otherwise, so it always joins whatever transaction SQLAlchemy has begun. Failures come out as
SQLAlchemy's errors, so callers and the app's error handlers see no difference (decision
0019)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

# The connection is gone or going: the pooled connection must not be used again.
_CONNECTION_LOST = (
    OSError,  # TimeoutError among them
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # the protocol lost its state with the server
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash, cannot connect now
)


_DIALECT: Any = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


def is_autocommit(conn: AsyncConnection) -> bool:
    sync = conn.sync_connection
    return sync is not None and sync.get_execution_options().get("isolation_level") == "AUTOCOMMIT"


async def driver_of(conn: AsyncConnection) -> Any:
    sync = conn.sync_connection
    if sync is not None and not sync.invalidated:
        # A live connection hands over its driver connection without any I/O; the
        # awaitable way costs a greenlet hop (a fifth of the statement's own CPU).
        return sync.connection.driver_connection
    return (await conn.get_raw_connection()).driver_connection


class DriverStatement:
    def __init__(
        self,
        statement: sa.Insert | sa.Select[Any] | sa.TextualSelect,
        *,
        json_params: frozenset[str] = frozenset(),
    ) -> None:
        self.statement = statement
        compiled = statement.compile(dialect=_DIALECT)
        self.sql = str(compiled)
        self.order: tuple[str, ...] = tuple(compiled.positiontup or ())
        # Values the statement carries itself (literals SQLAlchemy made parameters of).
        self.fixed = {k: v for k, v in compiled.params.items() if v is not None}
        # SQLAlchemy's asyncpg dialect gives json/jsonb a codec that takes JSON text.
        self.json_params = json_params

    async def fetchrow(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Any:
        """The first row (a Row or an asyncpg Record, read by position or name), or None."""
        if not is_autocommit(conn):
            return (await conn.execute(self.statement, dict(params))).first()
        return await self._on_driver(conn, "fetchrow", params)

    async def fetch(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Sequence[Any]:
        """All rows, read by position (Rows or asyncpg Records)."""
        if not is_autocommit(conn):
            return (await conn.execute(self.statement, dict(params))).all()
        rows: Sequence[Any] = await self._on_driver(conn, "fetch", params)
        return rows

    async def fetch_mappings(
        self, conn: AsyncConnection, params: Mapping[str, Any]
    ) -> Sequence[Mapping[Any, Any]]:
        """All rows, read by column name (RowMappings or asyncpg Records)."""
        if not is_autocommit(conn):
            return (await conn.execute(self.statement, dict(params))).mappings().all()
        rows: Sequence[Mapping[Any, Any]] = await self._on_driver(conn, "fetch", params)
        return rows

    async def _on_driver(
        self, conn: AsyncConnection, method: str, params: Mapping[str, Any]
    ) -> Any:
        values = {**self.fixed, **params}
        args = [
            orjson.dumps(values[name]).decode() if name in self.json_params else values[name]
            for name in self.order
        ]
        driver = await driver_of(conn)
        return await _guarded(conn, self.sql, getattr(driver, method)(self.sql, *args))


@asynccontextmanager
async def transaction(conn: AsyncConnection, **options: Any) -> AsyncIterator[None]:
    """A transaction of the block's own on an autocommit connection's driver connection
    (`options`: asyncpg's isolation, readonly). Failures come out as a DriverStatement's do;
    a block that fails on a lost connection raises that failure, not asyncpg's refusal to
    roll back on a closed connection."""
    driver = await driver_of(conn)
    tx = driver.transaction(**options)
    await _guarded(conn, "BEGIN", tx.start())
    try:
        yield
    except BaseException:
        if not driver.is_closed():
            try:
                await tx.rollback()
            except (*_CONNECTION_LOST, asyncpg.PostgresError):
                # Left mid-transaction (cancelled mid-statement, say): never pooled again.
                await conn.invalidate()
        raise
    await _guarded(conn, "COMMIT", tx.commit())


async def _guarded(conn: AsyncConnection, sql: str, step: Awaitable[Any]) -> Any:
    try:
        return await step
    except _CONNECTION_LOST as exc:
        await _through_sqlalchemy(conn)
        # It still answers, but what this statement left on it is unknown.
        await conn.invalidate()
        raise OperationalError(sql, None, exc, connection_invalidated=True) from exc
    except asyncpg.PostgresError as exc:
        raise DBAPIError(sql, None, exc) from exc


async def _through_sqlalchemy(conn: AsyncConnection) -> None:
    """Lets SQLAlchemy meet the failure itself: on a lost connection its own statement fails
    too, and SQLAlchemy then does what it does for any disconnect (invalidates this
    connection and every older one in the pool) and raises its DBAPIError."""
    await conn.execute(sa.text("SELECT 1"))
