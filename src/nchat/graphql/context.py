"""Per-request GraphQL context: the request's connection, the caller, and dataloaders.

Over HTTP a context holds the request's transaction (committed at the end, like REST). Over
a WebSocket (subscriptions) there is no request transaction: the subscription reads through
short connections of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import HTTPConnection
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from nchat import appstate
from nchat.auth.deps import AppSettings, Principal, resolve_token
from nchat.db.engine import ENGINE
from nchat.db.transaction import app_transaction
from nchat.errors import BadRequest, NchatError, Unauthorized
from nchat.tables.users import users
from nchat.users.schemas import UserOut
from nchat.users.service import to_out


async def _http_transaction(connection: HTTPConnection) -> AsyncIterator[AsyncConnection | None]:
    if connection.scope["type"] != "http":
        yield None
        return
    async with app_transaction(connection.app) as conn:
        yield conn


MaybeConn = Annotated[AsyncConnection | None, Depends(_http_transaction, scope="function")]


class GqlContext(BaseContext):
    def __init__(
        self,
        engine: AsyncEngine,
        conn: AsyncConnection | None,
        principal: Principal | None,
        settings: Any,
    ) -> None:
        super().__init__()
        self.engine = engine
        self._conn = conn
        self.principal = principal
        self.settings = settings
        self.app: Any = None
        self.streams = 0  # subscriptions open on this connection (a socket's context)
        # One batched query per request for every user a response names (message authors).
        self.users: DataLoader[uuid.UUID, UserOut | None] = DataLoader(load_fn=self._load_users)

    @property
    def conn(self) -> AsyncConnection:
        if self._conn is None:
            raise BadRequest(
                "Send queries and mutations over HTTP; the socket is for subscriptions",
                code="use_http",
            )
        return self._conn

    def user(self) -> Principal:
        if self.principal is None:
            raise Unauthorized(code="unauthorized", message="A bearer access token is required")
        return self.principal

    async def authenticate(self, token: str | None) -> None:
        """Resolve a socket's token (from the query string or `connection_init`)."""
        async with self.engine.connect() as conn:
            self.principal = await resolve_token(conn, token, self.settings)

    async def _load_users(self, ids: Sequence[uuid.UUID]) -> list[UserOut | None]:
        query = sa.select(users).where(users.c.id.in_(ids))
        if self._conn is not None:
            rows = list((await self._conn.execute(query)).mappings())
        else:
            async with self.engine.connect() as conn:
                rows = list((await conn.execute(query)).mappings())
        by_id = {r["id"]: to_out(r, viewer=self.principal) for r in rows}
        return [by_id.get(i) for i in ids]


async def get_context(
    connection: HTTPConnection, conn: MaybeConn, settings: AppSettings
) -> GqlContext:
    context = GqlContext(appstate.of(connection, ENGINE), conn, None, settings)
    context.app = connection.app
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    token = token or connection.query_params.get("token", "")
    if token:
        try:
            await context.authenticate(token)
        except NchatError:
            if conn is not None:  # HTTP: a bad token is a 401, as on REST
                raise
    return context
