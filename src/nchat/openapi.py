"""The OpenAPI document describes what each operation really answers, and the router agrees
with it.

FastAPI documents the success response and a 422 in a shape nchat never sends. This adds
the refusals each operation can give, all in the one error envelope (`ErrorEnvelope`), the
bearer token the authenticated operations need, and the other success codes a route sets
itself. The methods the document lists for a path are what a 405 names in `Allow`."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from nchat import appstate
from nchat.appstate import Key
from nchat.auth.deps import current_principal
from nchat.db.transaction import request_connection

ENVELOPE_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}
ERROR_ENVELOPE: dict[str, Any] = {
    "title": "ErrorEnvelope",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "Stable, machine-readable reason"},
                "message": {"type": "string", "description": "For people; may change"},
                "details": {"type": "object", "description": "Facts about this refusal"},
            },
        }
    },
}
BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}

REFUSALS = {
    400: "Malformed request: not JSON, a forged cursor, contradictory parameters",
    401: "No access token, or an invalid or expired one",
    403: "The caller's role does not allow this",
    404: "No such resource, or not one the caller may see",
    409: "The request conflicts with the current state",
    413: "The request body is too large",
    422: "The request is not valid; details.errors names each field",
    429: "Too many requests; retry after the Retry-After header's seconds",
    503: "The database is unreachable; retry shortly",
}

# Success answers a route sets itself besides the status code its decorator declares.
ALSO_ANSWERS: dict[tuple[str, str], tuple[int, str]] = {
    ("post", "/api/messages"): (200, "A retry: the message first sent with this client_id"),
    ("post", "/api/channels/direct"): (201, "The conversation was created"),
    ("get", "/api/health"): (503, "The database is unreachable"),
    ("get", "/api/health/ready"): (503, "The database is unreachable"),
}
BODY_METHODS = {"post", "put", "patch"}


def install(app: FastAPI) -> None:
    """Post-process FastAPI's document once, the first time it is asked for."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            describe(generate(), _route_facts(app))
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented extension point


def describe(spec: dict[str, Any], facts: dict[tuple[str, str], set[str]]) -> None:
    """Add the error responses and security of every operation in `spec`, in place.

    `facts` says, per (method, path), which of "auth" and "db" the operation depends on."""
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["ErrorEnvelope"] = ERROR_ENVELOPE
    components.setdefault("securitySchemes", {})["bearer"] = BEARER
    for path, method, operation in _operations(spec):
        found = facts.get((method, path), set())
        if "auth" in found:
            operation["security"] = [{"bearer": []}]
        responses = operation.setdefault("responses", {})
        for code in _refusal_codes(method, path, operation, found):
            responses[str(code)] = {"description": REFUSALS[code]}
        for code, response in responses.items():
            # Whatever refuses (a route, the router, a middleware), the body is the envelope.
            if code[0] in "45":
                response["content"] = {"application/json": {"schema": ENVELOPE_REF}}
        also = ALSO_ANSWERS.get((method, path))
        if also is not None:
            _add_success(responses, *also)
    # FastAPI's validation error shapes: nchat answers validation errors in the envelope.
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)


def _refusal_codes(method: str, path: str, operation: dict[str, Any], found: set[str]) -> list[int]:
    authed = "auth" in found
    params = operation.get("parameters", [])
    in_path = any(p.get("in") == "path" for p in params)
    # Strawberry reads its body itself, so a POST may take one the document does not show.
    body = "requestBody" in operation or method in BODY_METHODS
    checks = {
        400: body or bool(params),
        # Sign-in and refresh check credentials of their own.
        401: authed or path.startswith("/api/auth/"),
        403: authed or body,  # a role, or a closed sign-up
        404: in_path or (authed and body),
        409: body or (authed and method != "get"),
        413: body,
        422: bool(params) or body,
        429: authed or body,
        503: "db" in found,
    }
    return [code for code, applies in checks.items() if applies]


def _add_success(responses: dict[str, Any], code: int, description: str) -> None:
    declared = next((r for c, r in responses.items() if c.startswith("2")), None)
    content = declared.get("content") if declared else None
    responses[str(code)] = {"description": description, **({"content": content} if content else {})}


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and method in HTTP_METHODS:
                yield path, method, operation


HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _route_facts(app: FastAPI) -> dict[tuple[str, str], set[str]]:
    """(method, path) -> which of the caller's token ("auth") and a database connection
    ("db") the route's dependencies need."""
    facts: dict[tuple[str, str], set[str]] = {}
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        path = route.path_format
        if dependant is None or path is None or not route.methods:
            continue
        calls = set(_calls(dependant))
        found = {
            name
            for name, call in (("auth", current_principal), ("db", request_connection))
            if call in calls
        }
        for method in route.methods:
            facts[(method.lower(), path)] = found
    return facts


def _calls(dependant: Any) -> Iterator[Callable[..., Any]]:
    pending = [dependant]
    while pending:
        current = pending.pop()
        if current.call is not None:
            yield current.call
        pending.extend(current.dependencies)


# -- Allow --------------------------------------------------------------------------------


AllowTable = list[tuple[re.Pattern[str], str]]
ALLOW_TABLE: Key[AllowTable | None] = Key("allow_table")  # built on the first 405


def allow_header(app: FastAPI, path: str) -> str | None:
    """The methods the document lists for the path a request named (HEAD with GET, as the
    router answers it), or None for a path the document does not describe."""
    table = appstate.find(app, ALLOW_TABLE, None)
    if table is None:
        table = _allow_table(app.openapi())
        appstate.put(app, ALLOW_TABLE, table)
    for pattern, allowed in table:
        if pattern.fullmatch(path):
            return allowed
    return None


def _allow_table(spec: dict[str, Any]) -> list[tuple[re.Pattern[str], str]]:
    table = []
    # Literal paths first: /api/channels/direct is that path, not a {channel_id}.
    paths = sorted(spec.get("paths", {}).items(), key=lambda entry: entry[0].count("{"))
    for path, item in paths:
        methods = [m.upper() for m in item if m in HTTP_METHODS]
        if "GET" in methods and "HEAD" not in methods:
            methods.append("HEAD")
        # Literal parts escaped; each {parameter} is one path segment.
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path))
        table.append((re.compile(pattern), ", ".join(methods)))
    return table
