"""The Retry-After header of a push service's answer, as seconds to wait."""

from __future__ import annotations

import email.utils

# A service asking for more than a day is treated as asking for a day: the job queue should
# not hold a notification longer than anyone still wants it.
MAX_RETRY_AFTER_S = 24 * 3600.0


def retry_after_s(value: str | None, *, now: float) -> float | None:
    """Seconds from `now` (epoch seconds) that `value` asks to wait: delay-seconds or an
    HTTP-date (RFC 9110 10.2.3). None when absent or unreadable, so the caller's own backoff
    applies."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return min(float(text), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    # A date without a zone is not an HTTP-date.
    if when.tzinfo is None:
        return None
    return min(max(when.timestamp() - now, 0.0), MAX_RETRY_AFTER_S)
