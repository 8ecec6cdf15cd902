"""Argument parsing shared by resolvers: ids and the REST request models."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import strawberry
from pydantic import BaseModel, ValidationError

from nchat.errors import ValidationFailed

M = TypeVar("M", bound=BaseModel)


def parse_id(value: strawberry.ID | None, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise ValidationFailed(
            f"{field} is not a valid id", code="invalid_id", details={"field": field}
        ) from exc


def opt_id(value: strawberry.ID | None, field: str) -> uuid.UUID | None:
    return None if value is None else parse_id(value, field)


def validated(model: type[M], **values: Any) -> M:
    """Arguments checked by the same pydantic models the REST routes use."""
    try:
        return model(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        errors = [
            {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        raise ValidationFailed(details={"errors": errors}) from exc
