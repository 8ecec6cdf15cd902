"""Bounds on what one GraphQL operation may ask for (decision 0024).

Checked before validation and execution, in one walk of the document: how many selections
it expands to and how many aliases it uses, and for each operation its depth and its cost,
the number of objects it can return, counted from the page sizes it asks for."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    NamedTypeNode,
    OperationDefinitionNode,
    SelectionNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from graphql.pyutils import Undefined
from strawberry.extensions import SchemaExtension
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import CannotGetOperationTypeError

from nchat.config import Settings
from nchat.errors import BadRequest
from nchat.graphql.errors import as_graphql_error

# Parsing is linear in tokens; the largest legitimate documents (GraphiQL's introspection
# query, a screen's worth of aliased fields) have well under 2,000.
MAX_TOKENS = 5000
# Fields, fragment spreads and inline fragments, with each fragment counted where it is
# spread. Bounds this walk and the standard validation after it.
MAX_SELECTIONS = 1000
# The spec's overlapping-fields check compares every pair of fields sharing a response
# name in one selection set, and every pair of fragments spread into one: quadratic (500
# copies of one field, or 600 empty fragments, took most of a second).
MAX_SAME_FIELD = 10
MAX_SPREADS = 100
# Argument names that set how many items a list field returns.
PAGE_ARGUMENTS = ("first", "last", "limit")
# Items assumed for a list field that takes no page size (a message's reactions).
DEFAULT_LIST_SIZE = 10
INTROSPECTION_FIELDS = ("__schema", "__type")


@dataclass(frozen=True)
class GraphQLLimits:
    max_depth: int
    max_aliases: int
    max_cost: int
    max_response_bytes: int
    introspection: bool
    max_tokens: int = MAX_TOKENS
    max_selections: int = MAX_SELECTIONS

    @classmethod
    def of(cls, settings: Settings) -> GraphQLLimits:
        return cls(
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_cost=settings.graphql_max_cost,
            max_response_bytes=settings.graphql_max_response_bytes,
            introspection=settings.graphql_introspection or settings.environment == "development",
        )


class OperationNameRequired(CannotGetOperationTypeError):
    """Several operations and no `operationName`. A CannotGetOperationTypeError, so that
    Strawberry answers it as a bad request (HTTP 400; close 4400 on a socket)."""

    code = "operation_name_required"

    def __init__(self, count: int) -> None:
        super().__init__(None)
        self.count = count

    def as_http_error_reason(self) -> str:
        return f"The document holds {self.count} operations: name the one to run in `operationName`"


def _refusal(
    code: str, message: str, node: FieldNode | None = None, **details: Any
) -> GraphQLError:
    return as_graphql_error(
        BadRequest(message, code=code, details=details), nodes=[node] if node else None
    )


def response_too_large(limit: int) -> GraphQLHTTPResponse:
    error = _refusal(
        "response_too_large",
        f"The response would exceed {limit} bytes: ask for fewer items or fields",
        limit=limit,
    )
    return {"data": None, "errors": [error.formatted]}


class QueryLimits(SchemaExtension):
    """Refuses an operation beyond the limits before it is validated or run, and gives the
    parser's and the validator's errors an error code like every other error."""

    def __init__(self, limits: GraphQLLimits) -> None:
        self.limits = limits

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self.limits.max_tokens
        yield

    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context
        document = context.graphql_document
        if document is None:
            for error in context.pre_execution_errors or ():
                _tag(error, _syntax_code(error))
            return
        operations = sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
        # Strawberry runs the first operation when no name is given; the spec asks for an
        # error, and running one of several silently hides a client's mistake.
        if operations > 1 and context._provided_operation_name is None:
            raise OperationNameRequired(operations)

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        walk = _Walk(
            context.schema._schema, context.graphql_document, context.variables or {}, self.limits
        )
        error = walk.run()
        if error is not None:
            # Set before validation runs, so Strawberry skips it and answers with this.
            context.pre_execution_errors = [error]
        yield
        for error in context.pre_execution_errors or ():
            _tag(error, "graphql_validation_failed")


def _tag(error: GraphQLError, code: str) -> None:
    extensions = dict(error.extensions or {})
    if "code" not in extensions:
        error.extensions = {**extensions, "code": code, "status": 400}


def _syntax_code(error: GraphQLError) -> str:
    # The parser's own bounds (MAX_TOKENS, its nesting limit) end in "Parsing aborted.".
    if isinstance(error, GraphQLSyntaxError) and error.message.endswith("Parsing aborted."):
        return "query_too_deep" if "nested too deeply" in error.message else "query_too_large"
    return "graphql_syntax_error"


@dataclass(frozen=True, slots=True)
class _Frame:
    selections: Iterator[SelectionNode]
    # None inside introspection, counted as selections but free of depth and cost (the
    # schema's size bounds it, the spec's MaxIntrospectionDepthRule its recursion); also
    # under a type the schema lacks, which validation refuses.
    parent: GraphQLNamedType | None
    depth: int  # fields above this selection set
    count: int  # times this selection set is resolved
    page: int | None  # the page size an object hands down to its lists (a thread's replies)
    scope: int  # the merged selection set this belongs to, fragments included
    path: frozenset[str]  # fragments spread on the way here (cycles are invalid)


class _Walk:
    """One pass over every operation of a document (all are validated, whichever runs),
    fragments expanded where spread, with an explicit stack (fragment chains must not exhaust
    Python's), stopping at the first limit exceeded."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any],
        limits: GraphQLLimits,
    ) -> None:
        self.schema = schema
        self.document = document
        self.variables = variables
        self.limits = limits
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.defaults: dict[str, ValueNode | None] = {}
        self.used: set[str] = set()  # fragments spread anywhere
        self.selections = 0
        self.aliases = 0
        self.spreads = 0
        self.cost = 0
        # Fields sharing a response name merge their selections: one scope for them all.
        self.scopes: dict[tuple[int, str], int] = {}
        self.keys: Counter[tuple[int, str]] = Counter()

    def run(self) -> GraphQLError | None:
        operations = [
            d for d in self.document.definitions if isinstance(d, OperationDefinitionNode)
        ]
        for index, operation in enumerate(operations):
            error = self._operation(operation, -1 - index)
            if error is not None:
                return error
        # Validation checks every definition, spread or not: the walk must have seen them.
        names = Counter(
            d.name.value for d in self.document.definitions if isinstance(d, FragmentDefinitionNode)
        )
        twice = [name for name, count in names.items() if count > 1]
        if twice:
            message = f"There can be only one fragment named '{twice[0]}'."
            return _refusal("graphql_validation_failed", message)
        unused = sorted(self.fragments.keys() - self.used)
        if unused:
            return _refusal("graphql_validation_failed", f"Fragment '{unused[0]}' is never used.")
        return None

    def _operation(self, operation: OperationDefinitionNode, scope: int) -> GraphQLError | None:
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return None  # validation reports an operation type the schema lacks
        self.defaults = {
            v.variable.name.value: v.default_value for v in operation.variable_definitions or ()
        }
        self.cost = 0  # one operation runs: each is held to the limit on its own
        selections = iter(operation.selection_set.selections)
        # Root scopes are negative: apart from each other and from the fields' scopes.
        stack = [_Frame(selections, root, 0, 1, None, scope, frozenset())]
        while stack:
            frame = stack[-1]
            node = next(frame.selections, None)
            if node is None:
                stack.pop()
                continue
            self.selections += 1
            if self.selections > self.limits.max_selections:
                return _refusal(
                    "query_too_large",
                    f"The query expands to more than {self.limits.max_selections} selections",
                    limit=self.limits.max_selections,
                )
            if isinstance(node, FieldNode):
                result = self._field(node, frame)
                if isinstance(result, GraphQLError):
                    return result
                if result is not None:
                    stack.append(result)
            elif isinstance(node, InlineFragmentNode):
                parent = self._condition(node.type_condition, frame.parent)
                selections = iter(node.selection_set.selections)
                stack.append(replace(frame, selections=selections, parent=parent))
            elif isinstance(node, FragmentSpreadNode):
                self.spreads += 1
                if self.spreads > MAX_SPREADS:
                    return _refusal(
                        "query_too_large",
                        f"The query spreads fragments more than {MAX_SPREADS} times",
                        limit=MAX_SPREADS,
                    )
                name = node.name.value
                self.used.add(name)
                fragment = self.fragments.get(name)
                if fragment is None or name in frame.path:
                    continue  # validation reports unknown fragments and cycles
                parent = self._condition(fragment.type_condition, frame.parent)
                selections = iter(fragment.selection_set.selections)
                path = frame.path | {name}
                stack.append(replace(frame, selections=selections, parent=parent, path=path))
        return None

    def _field(self, node: FieldNode, frame: _Frame) -> _Frame | GraphQLError | None:
        limits = self.limits
        key = node.alias.value if node.alias else node.name.value
        if node.alias:
            self.aliases += 1
            if self.aliases > limits.max_aliases:
                return _refusal(
                    "too_many_aliases",
                    f"The query uses more than {limits.max_aliases} aliases",
                    node,
                    limit=limits.max_aliases,
                )
        self.keys[frame.scope, key] += 1
        if self.keys[frame.scope, key] > MAX_SAME_FIELD:
            return _refusal(
                "query_too_large",
                f"'{key}' is selected more than {MAX_SAME_FIELD} times in one selection set",
                node,
                limit=MAX_SAME_FIELD,
            )
        if node.selection_set is None:
            return None
        scope = self.scopes.setdefault((frame.scope, key), len(self.scopes) + 1)
        children = iter(node.selection_set.selections)
        if node.name.value in INTROSPECTION_FIELDS:
            if not limits.introspection:
                return _refusal(
                    "introspection_disabled", "Introspection is disabled on this server", node
                )
            return _Frame(children, None, frame.depth, frame.count, None, scope, frame.path)
        if frame.parent is None:
            return _Frame(children, None, frame.depth, frame.count, None, scope, frame.path)
        depth = frame.depth + 1
        if depth >= limits.max_depth:
            # Its selections would sit one level deeper still.
            return _refusal(
                "query_too_deep",
                f"The query nests fields deeper than {limits.max_depth} levels",
                node,
                limit=limits.max_depth,
            )
        field = _fields(frame.parent).get(node.name.value)
        if field is None:
            return None  # validation reports unknown fields
        page = self._page_size(node, field)
        if is_list_type(get_nullable_type(field.type)):
            size = page if page is not None else frame.page
            count = frame.count * (size if size is not None else DEFAULT_LIST_SIZE)
            page = None
        else:
            count = frame.count
        self.cost += count
        if self.cost > limits.max_cost:
            return _refusal(
                "query_too_costly",
                f"The query could return more than {limits.max_cost} objects: "
                "ask for smaller pages or fewer fields",
                node,
                limit=limits.max_cost,
            )
        return _Frame(children, get_named_type(field.type), depth, count, page, scope, frame.path)

    def _condition(
        self, condition: NamedTypeNode | None, parent: GraphQLNamedType | None
    ) -> GraphQLNamedType | None:
        if condition is None or parent is None:
            return parent
        return self.schema.get_type(condition.name.value)

    def _page_size(self, node: FieldNode, field: GraphQLField) -> int | None:
        for name in PAGE_ARGUMENTS:
            argument = field.args.get(name)
            if argument is None:
                continue
            given = next((a.value for a in node.arguments or () if a.name.value == name), None)
            value = argument.default_value if given is None else self._value(given)
            return _count(value)
        return None

    def _value(self, node: ValueNode | None) -> object:
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in self.variables:
                return self.variables[name]
            default = self.defaults.get(name)
            return None if isinstance(default, VariableNode) else self._value(default)
        if isinstance(node, IntValueNode):
            try:
                return int(node.value)
            except ValueError:  # more digits than Python converts; validation refuses it
                return None
        return None


def _fields(parent: GraphQLNamedType) -> Mapping[str, GraphQLField]:
    fields: Mapping[str, GraphQLField] = {}
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        fields = parent.fields
    return fields


def _count(value: object) -> int | None:
    """A page size as GraphQL's Int accepts it (2.0 is 2), or None."""
    if isinstance(value, bool) or value is Undefined:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return max(value, 0) if isinstance(value, int) else None
