"""The read-idle watchdog and the whole-stream cap."""

from __future__ import annotations

import asyncio

import pytest

from adapters.agent_service.watchdog import StreamCapReached, StreamIdle, StreamWatchdog


async def never() -> bytes:
    await asyncio.Event().wait()
    return b""


async def soon(data: bytes = b"x") -> bytes:
    await asyncio.sleep(0.001)
    return data


async def test_a_read_that_waits_too_long_is_declared_idle() -> None:
    watchdog = StreamWatchdog(idle_s=0.02, cap_s=60)
    with pytest.raises(StreamIdle):
        await watchdog.read(never)
    watchdog.stop()


async def test_reads_that_keep_delivering_are_never_idle() -> None:
    watchdog = StreamWatchdog(idle_s=0.05, cap_s=60)
    for _ in range(40):
        assert await watchdog.read(soon) == b"x"
    watchdog.stop()


async def test_time_spent_between_reads_never_counts_as_idle() -> None:
    watchdog = StreamWatchdog(idle_s=0.02, cap_s=60)
    for _ in range(3):
        assert await watchdog.read(soon) == b"x"
        await asyncio.sleep(0.05)  # the consumer is busy; the watchdog must not cancel it
    watchdog.stop()


async def test_the_cap_ends_reads_that_keep_delivering() -> None:
    watchdog = StreamWatchdog(idle_s=10, cap_s=0.05)
    with pytest.raises(StreamCapReached):
        while True:
            await watchdog.read(soon)
    assert watchdog.cap_reached
    watchdog.stop()


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    watchdog = StreamWatchdog(idle_s=10, cap_s=60)
    reader = asyncio.ensure_future(watchdog.read(never))
    await asyncio.sleep(0.01)
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    watchdog.stop()


async def test_after_firing_the_task_is_not_left_cancelling() -> None:
    watchdog = StreamWatchdog(idle_s=0.01, cap_s=60)
    with pytest.raises(StreamIdle):
        await watchdog.read(never)
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.02)
    watchdog.stop()
