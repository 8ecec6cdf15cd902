"""Budgets in PostgreSQL: one upsert per check, shared by every process and node.

The statement runs as a transaction of its own (autocommit), so a budget's row is locked for
that statement only, never for the rest of a request. A refused check changes nothing; only
then does a second statement read how long to wait."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.db.driver import DriverStatement, is_autocommit
from nchat.db.engine import create_engine
from nchat.limits.rules import Rule
from nchat.tables.limits import rate_limits

# Its own small pool: a check made while a request holds a connection of the main pool
# (a transaction) never waits for a second one from that pool, which a burst of such
# requests could exhaust; these connections are held for one statement each.
POOL_SIZE = 2

_tat = rate_limits.c.tat
_now = sa.func.now()
_step = sa.bindparam("step", type_=sa.Interval)
_window = sa.bindparam("window", type_=sa.Interval)
_spent_until = sa.func.greatest(_tat, _now) + _step

# GCRA: the budget is a time (tat) that each unit of cost pushes one interval further; a
# check may push it up to `window` ahead of now. A new row needs no test: the caller never
# asks for more than one window (`cost <= burst`).
TAKE = DriverStatement(
    pg_insert(rate_limits)
    .values(key=sa.bindparam("key"), tat=_now + _step)
    .on_conflict_do_update(
        index_elements=[rate_limits.c.key],
        set_={"tat": _spent_until},
        where=_spent_until - _now <= _window,
    )
    .returning(_tat)
)
WAIT = DriverStatement(
    sa.select(sa.extract("epoch", _spent_until - _now - _window)).where(
        rate_limits.c.key == sa.bindparam("key")
    )
)


async def take_on(conn: AsyncConnection, rule: Rule, key: str, cost: int = 1) -> float:
    """GCRA on an autocommit connection: 0.0 when allowed (and counted), else the seconds
    until it would be."""
    answer = rule.unmetered(cost)
    if answer is not None:
        return answer
    params = {
        "key": f"{rule.name}:{key}",
        "step": timedelta(seconds=cost * rule.interval_s),
        "window": timedelta(seconds=rule.window_s),
    }
    if await TAKE.fetchrow(conn, params) is not None:
        return 0.0
    row = await WAIT.fetchrow(conn, params)
    # No row: pruned in between; the next try starts afresh.
    wait = float(row[0]) if row is not None and row[0] is not None else 0.0
    return max(wait, 1e-3)


class PgLimiter:
    def __init__(self, database_url: str) -> None:
        self._engine = create_engine(database_url, pool_size=POOL_SIZE)
        self._autocommit = self._engine.execution_options(isolation_level="AUTOCOMMIT")

    async def take(self, rule: Rule, key: str, cost: int = 1) -> float:
        answer = rule.unmetered(cost)
        if answer is not None:
            return answer
        async with self._autocommit.connect() as conn:
            return await take_on(conn, rule, key, cost)

    def on(self, conn: AsyncConnection) -> OnConnection | PgLimiter:
        """This limiter on `conn` when that runs autocommit (no second connection needed),
        else on its own pool."""
        return OnConnection(conn) if is_autocommit(conn) else self

    async def close(self) -> None:
        await self._engine.dispose()


class OnConnection:
    """A request's autocommit connection, used for its checks."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def take(self, rule: Rule, key: str, cost: int = 1) -> float:
        return await take_on(self._conn, rule, key, cost)


async def prune(conn: AsyncConnection) -> None:
    """Budgets whole again say nothing a missing row does not."""
    await conn.execute(sa.delete(rate_limits).where(rate_limits.c.tat < sa.func.now()))
