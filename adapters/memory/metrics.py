from collections import Counter, defaultdict

from application.ports.metrics import Metrics


class InMemoryMetrics(Metrics):
    """Counters and observations kept in the process, until the production metrics adapter
    (Prometheus) replaces it in the composition root. Reads are for tests and diagnostics."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self.observations: defaultdict[str, list[float]] = defaultdict(list)

    def count(self, name: str, amount: int = 1, **labels: str) -> None:
        self.counts[(name, tuple(sorted(labels.items())))] += amount

    def observe(self, name: str, value: float, **labels: str) -> None:
        self.observations[name].append(value)
