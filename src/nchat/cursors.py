"""Opaque page cursors: URL-safe base64 of a short text key. Every cursor a client sends back
is decoded here, so a forged one is a 400 `invalid_cursor`, never a key the database cannot
take (NUL bytes, invalid UTF-8) or one too long to be ours."""

from __future__ import annotations

import base64
import binascii

from nchat.errors import BadRequest
from nchat.storable import text_problem

MAX_KEY_CHARS = 256


def invalid_cursor() -> BadRequest:
    return BadRequest("The cursor is not valid", code="invalid_cursor")


def encode_text(key: str) -> str:
    # Unpadded: `=` would need escaping in a query string.
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def decode_text(cursor: str) -> str:
    """The key a cursor of encode_text() holds; padded or not, strictly the URL-safe
    alphabet, non-empty text that PostgreSQL can store."""
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        raw = padded.encode("ascii")
        key = base64.b64decode(raw, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise invalid_cursor() from exc
    if not key or len(key) > MAX_KEY_CHARS or text_problem(key) is not None:
        raise invalid_cursor()
    return key
