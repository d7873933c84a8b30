from collections import Counter, defaultdict

from application.ports.metrics import Metrics


class RecordingMetrics(Metrics):
    """Keeps every count and observation for tests to read."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self.observations: defaultdict[str, list[float]] = defaultdict(list)

    def count(self, name: str, amount: int = 1, **labels: str) -> None:
        self.counts[(name, tuple(sorted(labels.items())))] += amount

    def observe(self, name: str, value: float, **labels: str) -> None:
        self.observations[name].append(value)

    def total(self, name: str, **labels: str) -> int:
        wanted = set(labels.items())
        return sum(n for (key, got), n in self.counts.items() if key == name and wanted <= set(got))
