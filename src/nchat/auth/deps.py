"""Who is calling: the bearer token resolved to a live user and session."""

from __future__ import annotations

import functools
import ipaddress
import math
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import RowMapping
from starlette.requests import HTTPConnection

from nchat import appstate
from nchat.auth import repository
from nchat.auth.session_cache import SESSION_CACHE, SessionCache
from nchat.auth.tokens import decode_access_token
from nchat.config import SETTINGS, Settings
from nchat.db.engine import ENGINE
from nchat.db.transaction import Conn
from nchat.errors import Unauthorized


@dataclass(frozen=True)
class Principal:
    user: RowMapping
    session_id: uuid.UUID
    # When the access token runs out (seconds since the epoch): live streams end then.
    expires_at: float = math.inf

    @property
    def id(self) -> uuid.UUID:
        value: uuid.UUID = self.user["id"]
        return value

    @property
    def role(self) -> str:
        value: str = self.user["role"]
        return value


# async: FastAPI runs a plain `def` dependency in a worker thread, a hop per request.
async def settings_of(connection: HTTPConnection) -> Settings:
    return appstate.of(connection, SETTINGS)


AppSettings = Annotated[Settings, Depends(settings_of)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def resolve_token(
    conn: Conn, token: str | None, settings: Settings, cache: SessionCache | None = None
) -> Principal:
    if token is None:
        raise Unauthorized(code="unauthorized", message="A bearer access token is required")
    claims = decode_access_token(token, secret=settings.jwt_secret)
    if claims is None:
        raise Unauthorized(code="invalid_token", message="The access token is invalid or expired")
    user = cache.get(claims.session_id, claims.user_id) if cache is not None else None
    if user is None:
        epoch = cache.epoch if cache is not None else 0
        user = await repository.user_for_live_session(
            conn, user_id=claims.user_id, session_id=claims.session_id
        )
        if user is None:
            raise Unauthorized(code="invalid_token", message="The session has ended")
        if cache is not None:
            cache.put(claims.session_id, user, epoch)
    return Principal(user=user, session_id=claims.session_id, expires_at=claims.expires_at)


async def current_principal(request: Request, conn: Conn, settings: AppSettings) -> Principal:
    cache = appstate.of(request, SESSION_CACHE)
    return await resolve_token(conn, bearer_token(request), settings, cache)


CurrentUser = Annotated[Principal, Depends(current_principal)]


async def principal_briefly(request: Request, settings: AppSettings) -> Principal:
    """For routes that stream for long (uploads): the session check takes a pooled
    connection for its one query, not for the whole request."""
    cache = appstate.of(request, SESSION_CACHE)
    async with appstate.of(request, ENGINE).connect() as conn:
        return await resolve_token(conn, bearer_token(request), settings, cache)


StreamingUser = Annotated[Principal, Depends(principal_briefly)]


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(connection: HTTPConnection) -> str:
    """The client's address, as rate limits and sessions record it.

    The peer's, unless the peer is one of `trusted_proxies`: then the right-most address in
    X-Forwarded-For that is not a trusted proxy. Each trusted proxy appends the address it
    was called from; everything left of the first untrusted one is the client's to write.
    """
    if connection.client is None:
        return "unknown"
    peer = _parse_address(connection.client.host)
    if peer is None:
        return connection.client.host
    settings = appstate.of(connection, SETTINGS)
    trusted = _networks(tuple(settings.trusted_proxies))
    if not _is_trusted(peer, trusted):
        return str(peer)
    address = peer
    forwarded = ",".join(connection.headers.getlist("x-forwarded-for"))
    for entry in reversed(forwarded.split(",")):
        if not entry.strip():
            continue
        hop = _parse_address(entry)
        if hop is None:
            # Not written by a proxy we trust: the last hop they vouched for is all we know.
            break
        address = hop
        if not _is_trusted(hop, trusted):
            break
    return str(address)


@functools.lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    # Settings checked each entry at start (config.py).
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _is_trusted(address: IPAddress, trusted: tuple[IPNetwork, ...]) -> bool:
    return any(address in network for network in trusted)


def _parse_address(text: str) -> IPAddress | None:
    """An address as peers and proxies write it: bare, `[v6]` or `[v6]:port`, `v4:port`;
    IPv4 seen through a dual-stack socket (`::ffff:a.b.c.d`) as the IPv4 it is."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
