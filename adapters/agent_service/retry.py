"""When to try a call again, and how long to wait first.

Categories (Story 7): connection errors and 503 (also 429, 502, 504) are retried up to
`unavailable_retries` times, 500 and other 5xx `server_error_retries` times, everything else
never (408 included: see architecture/0011-no-retry-on-408.md). Waits grow 1 s, 2 s, 4 s ...
with jitter; a `Retry-After` header (seconds or an HTTP-date) is a floor under the computed wait
(never retry sooner than the service asked), and one asking for more than `max_retry_after_s`
ends the retries at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

UNAVAILABLE_STATUSES = frozenset({429, 502, 503, 504})
CONNECTION_FAILED = 0
"""The status given to `RetryPolicy.delay_before_retry` for a call that got no response."""


@dataclass(frozen=True, slots=True)
class BackoffSchedule:
    """Waits of `base_s * 2**n` (capped at `max_s`), each spread by ±`jitter` of itself."""

    base_s: float = 1.0
    max_s: float = 30.0
    jitter: float = 0.25

    def delay(self, retry_number: int, uniform: Callable[[], float] = random.random) -> float:
        """The wait before retry `retry_number` (0 for the first)."""
        nominal = min(self.base_s * 2**retry_number, self.max_s)
        return nominal * (1 + self.jitter * (2 * uniform() - 1))

    def bounds(self, retry_number: int) -> tuple[float, float]:
        nominal = min(self.base_s * 2**retry_number, self.max_s)
        return nominal * (1 - self.jitter), nominal * (1 + self.jitter)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` value (delta-seconds or HTTP-date), never negative;
    None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    unavailable_retries: int = 3
    server_error_retries: int = 1
    backoff: BackoffSchedule = BackoffSchedule()
    max_retry_after_s: float = 30.0

    def delay_before_retry(
        self,
        status: int,
        retries_so_far: int,
        retry_after_s: float | None = None,
        uniform: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds to wait before trying again after `status` (CONNECTION_FAILED when no
        response came), or None when the call must not be retried."""
        if retries_so_far >= self._allowed(status):
            return None
        backoff = self.backoff.delay(retries_so_far, uniform)
        if retry_after_s is None:
            return backoff
        if retry_after_s > self.max_retry_after_s:
            return None
        return max(backoff, retry_after_s * (1 + self.backoff.jitter * uniform()))

    def _allowed(self, status: int) -> int:
        if status == CONNECTION_FAILED or status in UNAVAILABLE_STATUSES:
            return self.unavailable_retries
        if status >= 500:
            return self.server_error_retries
        return 0


def utc_now() -> datetime:
    return datetime.now(UTC)
