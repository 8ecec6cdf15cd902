"""What PostgreSQL can store from a client: text without NUL (text and JSONB refuse it) or
lone surrogates (they have no UTF-8 encoding), and JSON that is shallow enough to walk,
serialize and index, with numbers that fit the JSON encoder. Checked where input enters,
so a bad value is a 422 naming the field instead of a 500 from the driver."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, field_validator

# Deep enough for any configuration or payload nchat has; far below the depth at which the
# JSON encoder (255) or a recursive walk of the value would fail.
MAX_JSON_DEPTH = 32
# orjson's range for integers; PostgreSQL's numeric takes more, but nothing past here is
# ever encoded.
MIN_JSON_INT = -(2**63)
MAX_JSON_INT = 2**64 - 1

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why PostgreSQL cannot store `value` as text, or None when it can."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    if found.group() == "\x00":
        return "text must not contain NUL characters"
    return "text must not contain lone surrogates (it must be valid Unicode)"


def value_problem(value: object, *, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why `value` (a string, number, list or dict, nested) cannot be stored, or None.

    The walk uses a stack of its own, not recursion: a hostile value may nest a thousand
    levels deep, and the check must not be what fails on it."""
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            problem = text_problem(item)
        elif isinstance(item, bool) or item is None:
            problem = None
        elif isinstance(item, int):
            problem = None if MIN_JSON_INT <= item <= MAX_JSON_INT else "number out of range"
        elif isinstance(item, float):
            problem = None if math.isfinite(item) else "numbers must be finite"
        elif isinstance(item, dict | list | tuple):
            if depth >= max_depth:
                return f"nested deeper than {max_depth} levels"
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else list(item)
            pending.extend((child, depth + 1) for child in children)
            problem = None
        else:
            problem = None  # uuids, datetimes and the like: typed fields, already checked
        if problem is not None:
            return problem
    return None


class CleanModel(BaseModel):
    """Input model: only what PostgreSQL can store gets through (nchat.storable), so NUL,
    lone surrogates, hostile nesting and out-of-range numbers are a 422, never a 500."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: object) -> object:
        problem = value_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class StrictModel(CleanModel):
    model_config = ConfigDict(extra="forbid")


def _iso_only(value: object) -> object:
    # Lax parsing would read "0.5" as seconds since the epoch: a time here is ISO 8601.
    if not isinstance(value, datetime) and not re.match(r"^\d{4}-\d{2}-\d{2}T", str(value)):
        raise ValueError("must be an ISO 8601 time, e.g. 2026-01-31T12:00:00Z")
    return value


def _in_utc(value: datetime) -> datetime:
    # A time without a zone is UTC. One at the calendar's edge whose offset moves it past
    # year 1 or 9999 has no UTC value: refused here, not an OverflowError in the driver.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None


IsoTime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_in_utc)]
