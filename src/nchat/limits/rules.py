"""What each volume limit allows, from the settings."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from nchat.auth.rbac import ROLES
from nchat.config import Settings


class Rule(NamedTuple):
    """`per_min` sustained, and up to `burst` at once on top of an idle budget."""

    name: str
    per_min: int
    burst: int

    @property
    def interval_s(self) -> float:
        """GCRA's emission interval: the budget one unit of cost takes."""
        return 60.0 / self.per_min

    @property
    def window_s(self) -> float:
        """How far ahead of now a budget may be spent: `burst` units."""
        return self.burst * self.interval_s

    def unmetered(self, cost: int) -> float | None:
        """The answers no budget is needed for: 0.0 when there is nothing to count, infinity
        when the cost exceeds what a whole budget holds (never allowed: split the request);
        None when the budget decides."""
        if cost < 1:
            return 0.0
        if cost > self.burst:
            return math.inf
        return None


@dataclass(frozen=True, slots=True)
class Rules:
    send: Rule
    sync_ops: Rule
    signals: Rule
    exempt_roles: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> Rules:
        """Raises ValueError for an exempt role that does not exist: a typo there would
        otherwise leave the bots it was meant for throttled, silently."""
        unknown = sorted(set(settings.rate_limit_exempt_roles) - set(ROLES))
        if unknown:
            raise ValueError(
                f"NCHAT_RATE_LIMIT_EXEMPT_ROLES: unknown role(s) {', '.join(unknown)}; "
                f"the roles are {', '.join(ROLES)}"
            )
        return cls(
            send=Rule("send", settings.rate_send_per_min, settings.rate_send_burst),
            sync_ops=Rule("sync_ops", settings.rate_sync_ops_per_min, settings.rate_sync_ops_burst),
            signals=Rule("signals", settings.rate_signals_per_min, settings.rate_signals_burst),
            exempt_roles=frozenset(settings.rate_limit_exempt_roles),
        )
