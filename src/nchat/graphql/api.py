"""POST/GET/WebSocket /graphql: Strawberry's router with nchat's error envelope and the
bounds of decision 0024."""

from __future__ import annotations

import json
from typing import Any

import orjson
from cross_web import HTTPException
from fastapi import Response
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.base import BaseSchema

from nchat.config import Settings
from nchat.errors import BadRequest, NchatError
from nchat.graphql.context import GqlContext, get_context
from nchat.graphql.limits import (
    GraphQLLimits,
    OperationNameRequired,
    QueryLimits,
    response_too_large,
)
from nchat.graphql.schema import make_schema

HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


class BodyRefused(json.JSONDecodeError):
    """JSON nchat will not take, and the error code to answer with. A JSONDecodeError, so
    Strawberry's socket handlers close with 4400 as they do for malformed JSON."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, "", 0)
        self.code = code


class NchatGraphQLRouter(GraphQLRouter[GqlContext, None]):
    """Strawberry's router, with its HTTP-level refusals in nchat's error envelope."""

    def __init__(self, schema: BaseSchema, *, max_response_bytes: int, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.max_response_bytes = max_response_bytes

    async def run(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().run(*args, **kwargs)
        except HTTPException as exc:
            cause = exc.__cause__
            code = (
                cause.code
                if isinstance(cause, OperationNameRequired)
                else HTTP_CODES.get(exc.status_code, "graphql_bad_request")
            )
            error = NchatError(exc.reason, code=code)
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
        """Request bodies and socket messages alike."""
        try:
            value = json.loads(data)
        except RecursionError as exc:
            raise BodyRefused("json_too_deep", "The JSON is nested too deeply") from exc
        except ValueError as exc:  # also bytes that are not UTF-8, integers too long to read
            raise BodyRefused("invalid_json", "The JSON is not valid") from exc
        if isinstance(value, list):
            # Strawberry's batching is off: each operation is bounded, and pays, on its own.
            raise BodyRefused(
                "batching_not_supported",
                "Batches (a JSON array of operations) are not accepted: "
                "send one operation per request",
            )
        # Strawberry assumes an object; `null` or a number would crash it.
        if not isinstance(value, dict):
            raise BodyRefused("invalid_body", "A JSON object is expected")
        return value

    def parse_json(self, data: str | bytes) -> Any:
        """HTTP only (the body, and a GET's variables): refusals in the error envelope."""
        try:
            return self.decode_json(data)
        except BodyRefused as exc:
            raise BadRequest(exc.msg, code=exc.code) from exc

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        # orjson here only: socket messages keep Strawberry's encoder, whose text frames
        # browsers' graphql-ws clients expect.
        body = orjson.dumps(response_data)
        # The result is built before it can be measured; the cost limit keeps it small, and
        # this keeps what slips past from reaching the client.
        if len(body) > self.max_response_bytes:
            body = orjson.dumps(response_too_large(self.max_response_bytes))
        response = Response(
            body, media_type="application/json", status_code=sub_response.status_code or 200
        )
        response.headers.raw.extend(sub_response.headers.raw)
        return response


def make_router(settings: Settings) -> GraphQLRouter[GqlContext, None]:
    limits = GraphQLLimits.of(settings)
    return NchatGraphQLRouter(
        make_schema(lambda: QueryLimits(limits)),
        max_response_bytes=limits.max_response_bytes,
        path="/graphql",
        context_getter=get_context,
        graphql_ide="graphiql" if settings.environment == "development" else None,
    )
