"""Per-user volume limits: the interface routes, resolvers and the WebSocket gateway use.

A `Limiter` keeps one budget per (rule, key) with GCRA (the generic cell rate algorithm):
`per_min` sustained, `burst` at once. `check` turns a refusal into 429 with Retry-After.
Backends: PostgreSQL (`postgres.py`), or Redis when NCHAT_REDIS_URL is set
(`redis_store.py`); both shared by every process and node (decision 0027), Redis with
budgets in memory while it is away (decision 0061)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated, Any, Protocol

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import HTTPConnection

from nchat import appstate
from nchat.appstate import Key
from nchat.auth.deps import Principal
from nchat.config import Settings
from nchat.errors import NchatError, TooManyRequests
from nchat.limits.postgres import PgLimiter
from nchat.limits.redis_store import RedisLimiter
from nchat.limits.rules import Rule, Rules
from nchat.observability import Metrics


class Limiter(Protocol):
    async def take(self, rule: Rule, key: str, cost: int = 1) -> float:
        """0.0 when allowed (and counted), else the seconds to wait (nothing counted);
        infinity for a cost above the rule's burst, which no wait makes possible."""
        ...


class OverBurst(NchatError):
    """One request costing more than a whole budget holds: waiting would not help."""

    status_code = 413
    code = "over_rate_limit"
    message = "This request does more at once than the rate limit allows; split it"


async def check(
    limiter: Limiter,
    rule: Rule,
    *,
    user_id: uuid.UUID,
    role: str,
    exempt_roles: Collection[str],
    cost: int = 1,
) -> None:
    """Count `cost` against the user's budget of `rule`, or raise TooManyRequests (429 with
    Retry-After) and count nothing. Exempt roles are neither limited nor counted."""
    if role in exempt_roles:
        return
    wait = await limiter.take(rule, str(user_id), cost)
    if wait <= 0:
        return
    if math.isinf(wait):
        raise OverBurst(details={"cost": cost, "max_cost": rule.burst})
    raise TooManyRequests(retry_after=math.ceil(wait))


Backend = PgLimiter | RedisLimiter


def make_limiter(settings: Settings, metrics: Metrics | None = None) -> Backend:
    """Redis when the deployment has one (the bus's prefix), else PostgreSQL."""
    assert settings.database_url, "the database URL is resolved before the app starts"
    if settings.redis_url:
        return RedisLimiter(
            settings.redis_url,
            database_url=settings.database_url,
            prefix=settings.redis_prefix or None,
            metrics=metrics,
        )
    return PgLimiter(settings.database_url)


@dataclass(frozen=True, slots=True)
class Limits:
    """The app's limiter and rules, as routes use them."""

    limiter: Limiter
    rules: Rules

    def on(self, conn: AsyncConnection) -> Limits:
        """Checks on the request's own connection when it runs autocommit (PostgreSQL): no
        second connection, and the budget's row is locked for its one statement only."""
        if isinstance(self.limiter, PgLimiter):
            return Limits(self.limiter.on(conn), self.rules)
        return self

    async def check(self, rule: Rule, principal: Principal, cost: int = 1) -> None:
        await check(
            self.limiter,
            rule,
            user_id=principal.id,
            role=principal.role,
            exempt_roles=self.rules.exempt_roles,
            cost=cost,
        )


LIMITS: Key[Limits] = Key("limits")


def limits_of(app: Any) -> Limits:
    """The limits the app's lifespan set up."""
    return appstate.get(app, LIMITS)


async def request_limits(connection: HTTPConnection) -> Limits:
    return limits_of(connection.app)


AppLimits = Annotated[Limits, Depends(request_limits)]
