"""Periodic jobs: run inside `convo serve`, alone with `convo scheduler`, or once with
`convo cleanup --once`. Every job is safe to run on several instances at once."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from application.ports.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """A named unit of periodic work returning how many things it handled."""

    name: str
    run: Callable[[], Awaitable[int]]


class Scheduler:
    def __init__(self, jobs: Sequence[Job], interval_s: float, metrics: Metrics) -> None:
        self._jobs = jobs
        self._interval_s = interval_s
        self._metrics = metrics

    async def run_once(self) -> dict[str, int]:
        """Run every job once; a failing job is logged and counted, the others still run."""
        handled = {}
        for job in self._jobs:
            try:
                count = await job.run()
            except Exception:
                log.exception("scheduled job %s failed", job.name)
                self._metrics.count("convo_scheduler_runs", job=job.name, outcome="error")
                continue
            handled[job.name] = count
            self._metrics.count("convo_scheduler_runs", job=job.name, outcome="ok")
            self._metrics.count("convo_scheduler_handled", count, job=job.name)
            if count:
                log.info("scheduled job %s handled %d", job.name, count)
        return handled

    async def run_forever(self) -> None:
        """Run the jobs every interval, with jitter so that instances spread out."""
        while True:
            await self.run_once()
            await asyncio.sleep(self._interval_s * random.uniform(0.8, 1.2))  # noqa: S311
