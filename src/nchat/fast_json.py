"""Responses serialized by orjson straight from plain fields, for pages of many rows: models
and FastAPI's pass over them cost those pages more than their SQL (the channel list, history
pages). The fields must be exactly what the page's model would send; tests compare the two."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi import Response


def json_response(content: Any) -> Response:
    body = orjson.dumps(content, default=_default, option=orjson.OPT_UTC_Z)
    return Response(body, media_type="application/json")


def _default(value: object) -> str:
    # asyncpg's own UUID type is a subclass, which orjson does not take for a uuid.UUID.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
