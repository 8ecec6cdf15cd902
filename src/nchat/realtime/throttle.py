"""A token bucket for one socket's frames, kept in memory: it costs nothing to ask, so it
can stand in front of anything that costs a round trip (the shared per-user limits)."""

from __future__ import annotations

import time


class Bucket:
    """`burst` at once, refilled at `rate_per_s`."""

    def __init__(self, rate_per_s: float, burst: float) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._tokens = burst
        self._at = time.monotonic()

    def take(self, cost: float = 1.0) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate_per_s)
        self._at = now
        if self._tokens < cost:
            return False
        self._tokens -= cost
        return True
