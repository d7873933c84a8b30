"""The bounded queue every LiveEvents adapter hands to a subscriber."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

from application.live import LiveEvent
from application.ports.live_events import SubscriberLagged

_LAGGED = object()


class SubscriberQueue:
    """Events for one subscriber, at most `size` waiting, read by one consumer.

    `offer` never blocks the publisher: when the subscriber has fallen `size - 1` events behind,
    it is marked lagged instead and gets nothing more; reading then raises SubscriberLagged
    after what it holds, and the client catches up from the replay buffer.

    One deque and, while the reader waits, one future: an `asyncio.Queue` would hold four
    deques, an Event and a future per wait for every open socket, for a reader that is always
    alone and a writer that never waits.
    """

    __slots__ = ("_items", "_lagged", "_size", "_waiter")

    def __init__(self, size: int) -> None:
        self._items: deque[object] = deque()
        self._size = size
        self._lagged = False
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, event: LiveEvent) -> bool:
        """Queue the event; False once the subscriber is lagged (drop it from the fan-out)."""
        if self._lagged:
            return False
        if len(self._items) >= self._size - 1:
            self.lag()
            return False
        self._items.append(event)
        self._wake()
        return True

    def lag(self) -> None:
        """Tell the subscriber it missed events and must catch up."""
        if not self._lagged:
            self._lagged = True
            self._items.append(_LAGGED)
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def events(self) -> AsyncIterator[LiveEvent]:
        items = self._items
        while True:
            while not items:
                self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
            item = items.popleft()
            if item is _LAGGED:
                raise SubscriberLagged
            assert isinstance(item, LiveEvent)
            yield item
