"""Per-request GraphQL context: the request's connection, the caller, and dataloaders."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from fastapi import Request
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from nchat.auth.deps import AppSettings, Principal, bearer_token, resolve_token
from nchat.db.engine import Conn
from nchat.errors import Unauthorized
from nchat.users.models import users
from nchat.users.schemas import UserOut
from nchat.users.service import to_out


class GqlContext(BaseContext):
    def __init__(self, conn: Conn, principal: Principal | None) -> None:
        super().__init__()
        self.conn = conn
        self.principal = principal
        # One batched query per request for every user a response names (message authors).
        self.users: DataLoader[uuid.UUID, UserOut | None] = DataLoader(load_fn=self._load_users)

    def user(self) -> Principal:
        if self.principal is None:
            raise Unauthorized(code="unauthorized", message="A bearer access token is required")
        return self.principal

    async def _load_users(self, ids: Sequence[uuid.UUID]) -> list[UserOut | None]:
        rows = (await self.conn.execute(sa.select(users).where(users.c.id.in_(ids)))).mappings()
        by_id = {r["id"]: to_out(r, viewer=self.principal) for r in rows}
        return [by_id.get(i) for i in ids]


async def get_context(request: Request, conn: Conn, settings: AppSettings) -> GqlContext:
    token = bearer_token(request)
    principal = await resolve_token(conn, token, settings) if token is not None else None
    return GqlContext(conn, principal)
