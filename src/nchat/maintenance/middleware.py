"""While maintenance mode is on, writes are refused before they reach a route: every
POST/PUT/PATCH/DELETE, and GraphQL mutations (a POST to /graphql is let through only when
every operation it may run is a query). Reads, signing in and out, refreshing a token and
maintenance mode's own endpoints go on; with `allow_admins`, so does every write of a user
who may manage maintenance mode.

Pure ASGI, innermost but for the routes: the body limit counts what it reads of a GraphQL
body, and the outer layers (request ids, CORS, security headers) wrap its 503 like any
answer. While maintenance mode is off it costs a method check and an attribute read."""

from __future__ import annotations

import orjson
from fastapi.responses import JSONResponse
from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nchat import appstate
from nchat.auth.deps import bearer_token, resolve_token
from nchat.auth.session_cache import SESSION_CACHE
from nchat.config import SETTINGS
from nchat.db.engine import ENGINE
from nchat.errors import NchatError
from nchat.maintenance.repository import Maintenance
from nchat.maintenance.service import UnderMaintenance, may_manage
from nchat.maintenance.view import MAINTENANCE

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# People must be able to sign in (and out) and keep their sessions to read; the switch
# itself must work.
OPEN_PATHS = frozenset(
    {
        "/api/admin/maintenance",
        "/api/auth/signin",
        "/api/auth/refresh",
        "/api/auth/signout",
    }
)
GRAPHQL_PATH = "/graphql"
# Far more than any real operation (the GraphQL limits refuse well before): bounds the parse.
MAX_TOKENS = 5000


class PausedWrites:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READ_METHODS:
            await self.app(scope, receive, send)
            return
        state = appstate.get(scope["app"], MAINTENANCE).state
        if state is None or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if scope["path"] == GRAPHQL_PATH:
            body, receive = await _read_body(receive)
            if not _may_write(body):
                await self.app(scope, receive, send)
                return
        if state.allow_admins and await _manager(scope):
            await self.app(scope, receive, send)
            return
        await _refuse(state, scope, receive, send)


async def _refuse(state: Maintenance, scope: Scope, receive: Receive, send: Send) -> None:
    error = UnderMaintenance(state)
    response = JSONResponse(error.envelope(), status_code=error.status_code, headers=error.headers)
    await response(scope, receive, send)


async def _manager(scope: Scope) -> bool:
    """Whether the caller's token is a live session of someone who may manage maintenance
    mode (the session cache answers most of these without a query)."""
    request = Request(scope)
    token = bearer_token(request)
    if token is None:
        return False
    try:
        async with appstate.of(request, ENGINE).connect() as conn:
            principal = await resolve_token(
                conn, token, appstate.of(request, SETTINGS), appstate.of(request, SESSION_CACHE)
            )
    except (NchatError, SQLAlchemyError, OSError):
        return False
    return may_manage(principal.role)


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """The whole body, and a `receive` that hands it to the app as if unread."""
    chunks: list[bytes] = []
    pending: list[Message] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            pending.append(message)  # the client left: the app hears so after the body
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    pending.insert(0, {"type": "http.request", "body": body, "more_body": False})

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return body, replay


def _may_write(body: bytes) -> bool:
    """Whether a GraphQL request body may run a mutation. Only a readable document whose
    operations (the one named, else all) are all queries or subscriptions may not: anything
    else is refused here rather than understood differently by the GraphQL layer."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return True
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        return True
    try:
        document = parse(payload["query"], no_location=True, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return True
    name = payload.get("operationName")
    operations = [
        node
        for node in document.definitions
        if isinstance(node, OperationDefinitionNode)
        and (not name or (node.name is not None and node.name.value == name))
    ]
    return not operations or any(op.operation == OperationType.MUTATION for op in operations)
