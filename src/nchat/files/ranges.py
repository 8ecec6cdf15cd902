"""One `Range: bytes=...` header, for downloads streamed from a remote store (the local
store's responses parse their own)."""

from __future__ import annotations

import re

_SINGLE = re.compile(r"bytes=(\d*)-(\d*)")


def single_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) of a satisfiable single range, None for the whole object.
    Several ranges, or a malformed header, are answered with the whole object as RFC 9110
    allows; an unsatisfiable one raises ValueError (416)."""
    if not header:
        return None
    found = _SINGLE.fullmatch(header.strip())
    if found is None:
        return None
    first, last = found.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        start, end = max(size - int(last), 0), size
    else:
        start = int(first)
        end = min(int(last) + 1, size) if last else size
    if start >= size or start >= end:
        raise ValueError("range not satisfiable")
    return start, end
