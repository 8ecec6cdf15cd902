"""Budgets in this process's memory: what the Redis limiter decides with while Redis cannot
be reached (decision 0061). The same GCRA as the shared stores, on this process's monotonic
clock.

At most `max_keys` budgets are kept, the least recently used forgotten first. A forgotten
budget is a whole one, so forgetting gives that user a fresh burst and never more; and
budgets are used in time order, so the least recently used has usually refilled already."""

from __future__ import annotations

import time
from collections import OrderedDict

from nchat.limits.rules import Rule

# Some 150 bytes a budget: about 15 MB at most, far more users than one process serves.
MAX_KEYS = 100_000


class LocalBudgets:
    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._tats: OrderedDict[str, float] = OrderedDict()
        self._max_keys = max_keys

    def take(self, rule: Rule, key: str, cost: int = 1) -> float:
        """As `Limiter.take`: 0.0 when allowed (and counted), else the seconds to wait."""
        answer = rule.unmetered(cost)
        if answer is not None:
            return answer
        name = f"{rule.name}:{key}"
        now = time.monotonic()
        spent_until = max(self._tats.get(name, now), now) + cost * rule.interval_s
        wait = spent_until - now - rule.window_s
        if wait > 0:
            return wait
        self._tats[name] = spent_until
        self._tats.move_to_end(name)
        while len(self._tats) > self._max_keys:
            self._tats.popitem(last=False)
        return 0.0

    def clear(self) -> None:
        self._tats.clear()

    def __len__(self) -> int:
        return len(self._tats)
