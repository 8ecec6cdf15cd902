"""Patterns for LIKE: what a user typed, found anywhere in a value, never read as a pattern."""

from __future__ import annotations


def contains(text: str) -> str:
    """`%text%` in lower case, with LIKE's own characters escaped (backslash is the default
    escape character)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
