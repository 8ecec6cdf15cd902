"""Per-user volume limits (sends, offline-sync operations, presence and typing signals)."""

from nchat.limits.core import (
    AppLimits,
    Backend,
    Limiter,
    Limits,
    OverBurst,
    check,
    install,
    limits_of,
    make_limiter,
)
from nchat.limits.rules import Rule, Rules

__all__ = [
    "AppLimits",
    "Backend",
    "Limiter",
    "Limits",
    "OverBurst",
    "Rule",
    "Rules",
    "check",
    "install",
    "limits_of",
    "make_limiter",
]
