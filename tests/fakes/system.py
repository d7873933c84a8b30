from datetime import UTC, datetime, timedelta
from uuid import UUID

from application.ports.clock import Clock
from application.ports.ids import IdGenerator


class FakeClock(Clock):
    """Time stands still until a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        self._monotonic = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._monotonic += seconds


class SequentialIds(IdGenerator):
    """Ids that sort in the order they were made: 00000000-…-000000000001, …"""

    def __init__(self) -> None:
        self._next = 0

    def new_id(self) -> UUID:
        self._next += 1
        return UUID(int=self._next)
