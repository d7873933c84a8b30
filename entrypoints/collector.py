"""The garbage collector's thresholds for a long-running server process."""

from __future__ import annotations

import gc
from typing import Literal

GcTuning = Literal["server", "python"]

SERVER_THRESHOLDS = (50_000, 20, 100)
"""A young collection every 50,000 allocations instead of 700, the older generations at 20
and 100 collections of the one below instead of 10 and 10.

Every relayed event allocates short-lived objects (envelopes, futures, handles), so with
Python's thresholds the youngest generation is collected every few events and the middle
one several times a second, and a full collection runs at every quarter of growth of the
heap: nine during a ramp to 1,000 streams, pausing the loop up to 0.4 s. With these, young
collections are 70 times rarer (each up to a few milliseconds) and full ones come only after
100 million allocations (still no sooner than Python's own quarter-of-growth rule allows).
The price: cyclic garbage that outlived two young collections waits longer for a full one
(architecture/0018).
"""


def tune_collector(tuning: GcTuning) -> None:
    """`server`: SERVER_THRESHOLDS; `python`: leave Python's own (700, 10, 10)."""
    if tuning == "server":
        gc.set_threshold(*SERVER_THRESHOLDS)
