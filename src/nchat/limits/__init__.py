"""Per-user volume limits (sends, offline-sync operations, presence and typing signals)."""

from nchat.limits.core import (
    LIMITS,
    AppLimits,
    Backend,
    Limiter,
    Limits,
    OverBurst,
    check,
    limits_of,
    make_limiter,
)
from nchat.limits.rules import Rule, Rules

__all__ = [
    "LIMITS",
    "AppLimits",
    "Backend",
    "Limiter",
    "Limits",
    "OverBurst",
    "Rule",
    "Rules",
    "check",
    "limits_of",
    "make_limiter",
]
