from typing import Protocol


class Metrics(Protocol):
    """Counters and timings for operators. Label values must be few (never ids or text)."""

    def count(self, name: str, amount: int = 1, **labels: str) -> None: ...

    def observe(self, name: str, value: float, **labels: str) -> None:
        """Record one measurement, in seconds for durations."""
        ...
