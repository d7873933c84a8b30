"""Percentiles and the lines the benchmark prints."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def triple(values: Sequence[float], qs: Sequence[float]) -> list[float]:
    return [percentile(values, q) for q in qs]


def fmt(values: Sequence[float], digits: int = 2, sign: bool = False) -> str:
    spec = f"{'+' if sign else ''}.{digits}f"
    return " / ".join(format(v, spec) for v in values)
