from __future__ import annotations

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import Counter, Histogram
from opentelemetry.sdk.metrics import Histogram as HistogramInstrument
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from prometheus_client import CollectorRegistry, generate_latest

from application.ports.metrics import Metrics

# Durations are recorded in seconds: the SDK's default buckets suit milliseconds.
SECONDS_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
)  # fmt: skip


class OpenTelemetryMetrics(Metrics):
    """The Metrics port on the OpenTelemetry SDK, read by Prometheus from `/metrics`.

    Each instance has its own meter provider and Prometheus registry, so several apps in one
    process (tests) never mix their figures. Instruments are made on first use; counters are
    exposed with the `_total` suffix Prometheus expects.
    """

    def __init__(self, scope: str = "convo") -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reader = PrometheusMetricReader(
            disable_target_info=True, scope_info_enabled=False, registry=self.registry
        )
        view = View(
            instrument_type=HistogramInstrument,
            aggregation=ExplicitBucketHistogramAggregation(SECONDS_BUCKETS),
        )
        self._provider = MeterProvider(metric_readers=[reader], views=[view])
        self._meter = self._provider.get_meter(scope)
        self._counters: dict[str, Counter] = {}
        self._histograms: dict[str, Histogram] = {}

    def count(self, name: str, amount: int = 1, **labels: str) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = self._meter.create_counter(name)
        counter.add(amount, labels)

    def observe(self, name: str, value: float, **labels: str) -> None:
        histogram = self._histograms.get(name)
        if histogram is None:
            histogram = self._histograms[name] = self._meter.create_histogram(name)
        histogram.record(value, labels)

    def exposition(self) -> bytes:
        """Everything recorded so far in the Prometheus text format."""
        return generate_latest(self.registry)

    def shutdown(self) -> None:
        self._provider.shutdown()
