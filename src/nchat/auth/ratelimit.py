"""Login rate limits per account and per client address, kept in PostgreSQL so every worker
and node shares them.

An account gets `login_max_failures` within the window, then waits; but only where it has
not signed in before. An address the account signed in from within
`login_known_address_days` counts only its own failures against it, so whoever knows a
username can lock it out of new places, never out of its owner's usual ones (decision 0060).
Guesses spread over many addresses still share the one account-wide budget.

An address gets `login_ip_max_failures`, then is slowed to one attempt per `login_ip_slow_s`
rather than locked out: one address is often a whole office behind NAT or a proxy. An IPv6
client is counted by its /64, the block one subscriber gets and can pick any address from.
"""

from __future__ import annotations

import ipaddress
import math
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from nchat.config import Settings
from nchat.errors import TooManyRequests
from nchat.tables.auth import login_addresses, login_failures

TOO_MANY = "Too many failed sign-in attempts"
# Namespace the advisory lock keys of accounts and throttled addresses.
_ACCOUNT_LOCK = "nchat.login_account:"
_ADDRESS_LOCK = "nchat.login_address:"


def account_key(user_id: uuid.UUID | None, login: str) -> str:
    """What failures are counted against: the user a login names, or, for a login that
    names nobody, its normalised text."""
    if user_id is not None:
        return f"user:{user_id}"
    return f"login:{login.strip().lower()}"


def address_key(ip: str) -> str:
    """What per-address failures are counted against."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


async def check_login_allowed(
    conn: AsyncConnection,
    *,
    account: str,
    user_id: uuid.UUID | None,
    ip: str,
    settings: Settings,
) -> None:
    """Raise TooManyRequests when the account or the address has failed too often."""
    window_start = datetime.now(UTC) - timedelta(seconds=settings.login_window_s)
    address = address_key(ip)
    failures = login_failures.c.account == account
    lock = _ACCOUNT_LOCK + account
    if user_id is not None and await _is_known(
        conn, user_id, address, days=settings.login_known_address_days
    ):
        # Failures from elsewhere do not count here, and neither does their lock: an attacker
        # hammering the account from other addresses must not keep its owner out.
        failures = sa.and_(failures, login_failures.c.ip == address)
        lock = f"{lock}@{address}"
    # One attempt per account (per known address) at a time: a burst sent at once would
    # otherwise pass the count together, before any of them recorded its failure (as many
    # guesses as requests).
    await _locked_or_refused(conn, lock, retry_after=1)
    limit = settings.login_max_failures
    count, oldest = await _recent_failures(conn, failures, window_start, limit)
    if count >= limit and oldest is not None:
        # Allowed again once the oldest of the last `limit` failures leaves the window.
        wait = (oldest - window_start).total_seconds()
        raise TooManyRequests(max(1, math.ceil(wait)), TOO_MANY)
    limit = settings.login_ip_max_failures
    count, _ = await _recent_failures(conn, login_failures.c.ip == address, window_start, limit)
    if count >= limit:
        await _one_attempt_at_a_time(conn, address=address, slow_s=settings.login_ip_slow_s)


async def _is_known(conn: AsyncConnection, user_id: uuid.UUID, address: str, *, days: int) -> bool:
    since = datetime.now(UTC) - timedelta(days=days)
    found = await conn.scalar(
        sa.select(sa.literal(1)).where(
            login_addresses.c.user_id == user_id,
            login_addresses.c.address == address,
            login_addresses.c.last_success_at > since,
        )
    )
    return found is not None


async def _recent_failures(
    conn: AsyncConnection,
    which: sa.ColumnElement[bool],
    window_start: datetime,
    limit: int,
) -> tuple[int, datetime | None]:
    """How many of the last `limit` failures `which` picks fall in the window, and the
    oldest of them."""
    recent = (
        sa.select(login_failures.c.created_at)
        .where(which, login_failures.c.created_at > window_start)
        .order_by(login_failures.c.created_at.desc())
        .limit(limit)
        .subquery()
    )
    row = (await conn.execute(sa.select(sa.func.count(), sa.func.min(recent.c.created_at)))).one()
    return int(row[0]), row[1]


async def _one_attempt_at_a_time(conn: AsyncConnection, *, address: str, slow_s: int) -> None:
    """Let a throttled address try once `slow_s` after its last failure, one request at a
    time: without the lock, a burst sent at once would pass this check together, before any
    of them recorded its failure. The lock is the transaction's, so it is held until the
    attempt's failure has committed; a request that finds it taken is not kept waiting."""
    await _locked_or_refused(conn, _ADDRESS_LOCK + address, retry_after=slow_s)
    # Failures are stamped by the database's clock: measured by the same clock, so the
    # interval holds between nodes whose clocks disagree.
    elapsed = await conn.scalar(
        sa.select(
            sa.extract("epoch", sa.func.now() - sa.func.max(login_failures.c.created_at))
        ).where(login_failures.c.ip == address)
    )
    if elapsed is None:  # pruned meanwhile
        return
    wait = slow_s - float(elapsed)
    if wait > 0:
        raise TooManyRequests(min(slow_s, max(1, math.ceil(wait))), TOO_MANY)


async def _locked_or_refused(conn: AsyncConnection, name: str, *, retry_after: int) -> None:
    """Take the transaction's advisory lock `name`, held until the attempt (and its failure)
    commits; a request that finds it taken gets 429 at once instead of holding a
    connection while it waits."""
    key = sa.func.hashtextextended(name, 0)
    if not await conn.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(key))):
        raise TooManyRequests(retry_after, TOO_MANY)


async def record_failure(conn: AsyncConnection, *, account: str, ip: str) -> None:
    await conn.execute(sa.insert(login_failures).values(account=account, ip=address_key(ip)))


async def clear_failures(conn: AsyncConnection, *, account: str, ip: str) -> None:
    """The password was right: this address's failures against the account are forgiven.
    Failures from other addresses stay: an owner signing in must not hand whoever is
    guessing elsewhere a fresh budget."""
    await conn.execute(
        sa.delete(login_failures).where(
            login_failures.c.account == account, login_failures.c.ip == address_key(ip)
        )
    )


async def remember_address(conn: AsyncConnection, *, user_id: uuid.UUID, ip: str) -> None:
    """A session started from `ip` (the password proven there): the account's failures
    elsewhere no longer lock it out at this address."""
    stmt = pg_insert(login_addresses).values(user_id=user_id, address=address_key(ip))
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[login_addresses.c.user_id, login_addresses.c.address],
            set_={"last_success_at": sa.func.now()},
        )
    )


async def clear_account_failures(conn: AsyncConnection, *, account: str) -> None:
    await conn.execute(sa.delete(login_failures).where(login_failures.c.account == account))


async def prune(conn: AsyncConnection, *, older_than_s: int, known_address_days: int) -> None:
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    await conn.execute(sa.delete(login_failures).where(login_failures.c.created_at < cutoff))
    forgotten = datetime.now(UTC) - timedelta(days=known_address_days)
    await conn.execute(
        sa.delete(login_addresses).where(login_addresses.c.last_success_at < forgotten)
    )
