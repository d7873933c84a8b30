"""Running the long-lived commands on the configured event loop (`CONVO_EVENT_LOOP`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class EventLoopUnavailable(Exception):
    """The configured event loop cannot run on this platform."""


def run(main: Coroutine[Any, Any, T], event_loop: str) -> T:
    """`asyncio.run(main)` on a loop of the given kind (`uvloop` or `asyncio`)."""
    with asyncio.Runner(loop_factory=loop_factory(event_loop)) as runner:
        return runner.run(main)


def loop_factory(event_loop: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if event_loop == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        raise EventLoopUnavailable(
            "CONVO_EVENT_LOOP=uvloop needs the uvloop package, which this platform lacks; "
            "set CONVO_EVENT_LOOP=asyncio"
        ) from None
    return uvloop.new_event_loop
