from __future__ import annotations

from strawberry.fastapi import GraphQLRouter

from nchat.graphql.context import GqlContext, get_context
from nchat.graphql.schema import schema


def make_router(*, graphiql: bool) -> GraphQLRouter[GqlContext, None]:
    return GraphQLRouter(
        schema,
        path="/graphql",
        context_getter=get_context,
        graphql_ide="graphiql" if graphiql else None,
    )
