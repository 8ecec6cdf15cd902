"""The transaction boundary: one transaction per request (or per command), and what its
commit tells the rest of the process.

A transaction records its effects that others keep a view of on an `Effects` object: the
event log marks that it wrote events (the hubs must read them), the session records mark
the users whose sessions or rows changed (the session caches must forget them). Whoever
opens the transaction says what to do with them after commit (`AfterCommit`): the app wakes
its hubs and caches and tells the other nodes over the bus; the CLI publishes the same over
the bus once. A connection opened any other way has no `Effects`, and marking one raises:
a write that others must hear of cannot commit silently."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from nchat import appstate
from nchat.appstate import Key
from nchat.db import driver
from nchat.db.driver import is_autocommit
from nchat.db.engine import ENGINE
from nchat.errors import NchatError


@dataclass
class Effects:
    """What a transaction changed that other parts of the process keep a view of."""

    events: bool = False  # it wrote to the event log
    users: set[uuid.UUID] = field(default_factory=set)  # their sessions or rows changed

    def __bool__(self) -> bool:
        return self.events or bool(self.users)


AfterCommit = Callable[[Effects], Awaitable[None]]
AFTER_COMMIT: Key[AfterCommit] = Key("after_commit")
_EFFECTS = "nchat.effects"


def effects(conn: AsyncConnection) -> Effects:
    """The effects of the transaction running on `conn` (opened by `transaction`)."""
    found = conn.info.get(_EFFECTS)
    if found is None:
        raise RuntimeError("this connection was not opened by transaction(): nobody would hear")
    assert isinstance(found, Effects)
    return found


@asynccontextmanager
async def transaction(
    engine: AsyncEngine, after: AfterCommit, *, autocommit: bool = False
) -> AsyncIterator[AsyncConnection]:
    """Commit or roll back once, then hand the committed effects to `after`.

    The effects live in the pooled connection's `info`, so they are taken off either way. A
    connection lost on the way has none left (and reading its `info` would reconnect it,
    synchronously)."""
    async with engine.connect() as conn:
        if autocommit:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        tx = await conn.begin()
        conn.info[_EFFECTS] = Effects()
        try:
            yield conn
        except NchatError as exc:
            await (tx.commit() if exc.keep_writes else tx.rollback())
            await _after(conn, after, committed=exc.keep_writes)
            raise
        except BaseException:
            await tx.rollback()
            await _after(conn, after, committed=False)
            raise
        else:
            await tx.commit()
            await _after(conn, after, committed=True)


async def _after(conn: AsyncConnection, after: AfterCommit, *, committed: bool) -> None:
    if conn.invalidated:
        return
    done: Effects = conn.info.pop(_EFFECTS)
    if committed and done:
        await after(done)


@asynccontextmanager
async def atomic(conn: AsyncConnection) -> AsyncIterator[None]:
    """The block's statements as one transaction: on a connection in a transaction already,
    that one; on an autocommit one, a transaction of the block's own."""
    if not is_autocommit(conn):
        yield
        return
    async with driver.transaction(conn):
        yield


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


@asynccontextmanager
async def app_transaction(app: Any, *, autocommit: bool = False) -> AsyncIterator[AsyncConnection]:
    """A transaction on the app's engine whose commit wakes the app's hubs and caches."""
    engine = appstate.get(app, ENGINE)
    async with transaction(engine, appstate.get(app, AFTER_COMMIT), autocommit=autocommit) as conn:
        yield conn


async def request_connection(request: Request) -> AsyncIterator[AsyncConnection]:
    """One transaction per request: committed when the handler returns, rolled back on error
    (or, for reads and endpoints marked `autocommit`, a statement at a time).

    Scope "function" runs the commit before the response is sent, so a client never sees a
    success for a write that then failed to commit.
    """
    async with app_transaction(request.app, autocommit=_runs_autocommit(request)) as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(request_connection, scope="function")]
