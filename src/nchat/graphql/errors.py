"""nchat errors become GraphQL errors with `extensions.code` (the same codes as REST);
anything unexpected is logged and masked."""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from nchat.errors import NchatError

log = structlog.get_logger("nchat.graphql")


def _convert(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return error
    if isinstance(original, NchatError):
        extensions = {"code": original.code, "status": original.status_code}
        if original.details:
            extensions["details"] = original.details
        return GraphQLError(
            original.message, nodes=error.nodes, path=error.path, extensions=extensions
        )
    log.error("unhandled error in resolver", exc_info=original, path=error.path)
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
