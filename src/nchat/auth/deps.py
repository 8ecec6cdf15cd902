"""Who is calling: the bearer token resolved to a live user and session."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import RowMapping
from starlette.requests import HTTPConnection

from nchat.auth import repository
from nchat.auth.session_cache import SessionCache
from nchat.auth.tokens import decode_access_token
from nchat.config import Settings
from nchat.db.engine import Conn
from nchat.errors import Unauthorized


@dataclass(frozen=True)
class Principal:
    user: RowMapping
    session_id: uuid.UUID

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
    settings: Settings = connection.app.state.settings
    return settings


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
    return Principal(user=user, session_id=claims.session_id)


async def current_principal(request: Request, conn: Conn, settings: AppSettings) -> Principal:
    cache: SessionCache = request.app.state.session_cache
    return await resolve_token(conn, bearer_token(request), settings, cache)


CurrentUser = Annotated[Principal, Depends(current_principal)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
