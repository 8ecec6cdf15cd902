"""nchat errors become GraphQL errors with `extensions.code` (the same codes as REST);
anything unexpected is logged and masked."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import structlog
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from nchat.errors import NchatError

logger = structlog.get_logger("nchat.graphql")


def as_graphql_error(exc: NchatError, **where: Any) -> GraphQLError:
    """The REST error's code and status in `extensions`."""
    extensions: dict[str, Any] = {"code": exc.code, "status": exc.status_code}
    if exc.details:
        extensions["details"] = exc.details
    return GraphQLError(exc.message, extensions=extensions, **where)


def _convert(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return error
    if isinstance(original, NchatError):
        return as_graphql_error(original, nodes=error.nodes, path=error.path)
    logger.error("unhandled error in resolver", exc_info=original, path=error.path)
    return GraphQLError(
        "Something went wrong on our side",
        nodes=error.nodes,
        path=error.path,
        extensions={"code": "internal_error", "status": 500},
    )


class NchatErrors(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [_convert(e) for e in result.errors]
