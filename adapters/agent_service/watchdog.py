"""Deadlines of a followed stream: a read-idle watchdog and a cap on the whole stream.

An `asyncio.timeout` per read would arm and cancel a timer for every chunk. This watchdog keeps
one timer per stream instead: each read only notes when it started, and the timer, when it
fires, cancels the reading task only if that read has waited too long; otherwise it re-arms for
the read's own deadline. The consumer's time between reads never counts, and the task is only
ever cancelled while it waits inside `read`, never in the consumer's code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class StreamIdle(Exception):
    """No byte arrived, heartbeats included, for the idle timeout."""


class StreamCapReached(Exception):
    """The stream as a whole ran past its cap."""


class StreamWatchdog:
    def __init__(self, idle_s: float, cap_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._idle_s = idle_s
        self._cap_at = self._loop.time() + cap_s
        self._read_started = 0.0
        self._reading: asyncio.Task[object] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._fired: type[Exception] | None = None

    @property
    def cap_reached(self) -> bool:
        return self._loop.time() >= self._cap_at

    def remaining_s(self) -> float:
        return max(0.0, self._cap_at - self._loop.time())

    async def read(self, source: Callable[[], Awaitable[bytes]]) -> bytes:
        """`await source()`, or raise StreamIdle / StreamCapReached when its deadline passes."""
        now = self._loop.time()
        if now >= self._cap_at:
            raise StreamCapReached
        self._read_started = now
        task = self._reading = asyncio.current_task()
        if self._timer is None:
            self._timer = self._loop.call_at(min(now + self._idle_s, self._cap_at), self._check)
        try:
            return await source()
        except asyncio.CancelledError:
            fired, self._fired = self._fired, None
            if fired is not None and task is not None and task.uncancel() == 0:
                raise fired from None
            raise
        finally:
            self._reading = None

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        self._timer = None
        task = self._reading
        if task is None:
            return
        now = self._loop.time()
        deadline = min(self._read_started + self._idle_s, self._cap_at)
        if now < deadline:
            self._timer = self._loop.call_at(deadline, self._check)
            return
        self._fired = StreamCapReached if now >= self._cap_at else StreamIdle
        task.cancel()
