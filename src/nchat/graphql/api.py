from __future__ import annotations

import json
from typing import Any

from cross_web import HTTPException
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter

from nchat.errors import NchatError
from nchat.graphql.context import GqlContext, get_context
from nchat.graphql.schema import schema

HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


class NchatGraphQLRouter(GraphQLRouter[GqlContext, None]):
    """Strawberry's router, with its HTTP-level refusals in nchat's error envelope."""

    async def run(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().run(*args, **kwargs)
        except HTTPException as exc:
            error = NchatError(
                exc.reason, code=HTTP_CODES.get(exc.status_code, "graphql_bad_request")
            )
            error.status_code = exc.status_code
            raise error from exc

    async def on_ws_connect(self, context: GqlContext) -> dict[str, object] | None:
        """graphql-transport-ws: a token in `connection_init` (browsers cannot set headers)."""
        params: object = context.connection_params
        token = params.get("token") if isinstance(params, dict) else None
        if context.principal is None:
            try:
                await context.authenticate(str(token) if token else None)
            except NchatError as exc:
                raise ConnectionRejectionError({"code": exc.code, "message": exc.message}) from exc
        return None  # accept, with an empty acknowledgement

    def decode_json(self, data: str | bytes) -> object:
        value = json.loads(data)
        # Strawberry assumes an object; `null` or a number would crash it.
        if not isinstance(value, dict):
            raise HTTPException(400, "The request body must be a JSON object")
        return value


def make_router(*, graphiql: bool) -> GraphQLRouter[GqlContext, None]:
    return NchatGraphQLRouter(
        schema,
        path="/graphql",
        context_getter=get_context,
        graphql_ide="graphiql" if graphiql else None,
    )
