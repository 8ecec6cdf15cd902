"""A file's content type, from its first bytes: never from what the client claims.

Types a browser could run on nchat's origin (HTML, SVG, XML, scripts, PDF with its scripts,
anything unknown) are served as attachments; only types that cannot carry script are shown
inline (files/api.py)."""

from __future__ import annotations

import puremagic

# Enough for every signature puremagic knows at a fixed offset near the start.
HEAD_BYTES = 8192
OCTET_STREAM = "application/octet-stream"
TEXT = "text/plain; charset=utf-8"

INLINE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/avif",
        "video/mp4",
        "video/webm",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "audio/x-wav",
        "audio/flac",
        TEXT,
    }
)


def content_type(head: bytes) -> str:
    """The type the bytes show; UTF-8 text without NUL is text/plain, the rest unknown."""
    if not head:
        return OCTET_STREAM
    try:
        found = puremagic.from_string(head, mime=True)
    except (puremagic.PureError, ValueError):
        found = ""
    if found:
        return str(found).lower()
    return TEXT if _is_text(head) else OCTET_STREAM


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The head may end inside a character.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def inline(kind: str) -> bool:
    return kind in INLINE_TYPES
