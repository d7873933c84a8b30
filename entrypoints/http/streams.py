"""Helpers for long-lived responses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Final, TypeVar

T = TypeVar("T")

HEARTBEAT: Final = object()


async def with_heartbeats(source: AsyncIterator[T], interval_s: float) -> AsyncIterator[T | object]:
    """Items of `source`, with HEARTBEAT whenever none arrived for `interval_s`.

    The pending read is kept across heartbeats, never cancelled, so no item is lost.
    """
    pending: asyncio.Future[T] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait({pending}, timeout=interval_s)
            if not done:
                yield HEARTBEAT
                continue
            finished, pending = pending, None
            try:
                item = finished.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
