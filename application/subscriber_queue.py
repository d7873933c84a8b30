"""The bounded queue every LiveEvents adapter hands to a subscriber."""

from __future__ import annotations

from collections.abc import AsyncIterator

from application.handoff import Handoff
from application.live import LiveEvent
from application.ports.live_events import SubscriberLagged

_LAGGED = object()


class SubscriberQueue:
    """Events for one subscriber, at most `size` waiting, read by one consumer.

    `offer` never blocks the publisher: when the subscriber has fallen `size - 1` events behind,
    it is marked lagged instead (one slot is always kept for that mark) and gets nothing more;
    reading then raises SubscriberLagged after what it holds, and the client catches up from
    the replay buffer.
    """

    __slots__ = ("_handoff", "_lagged", "_size")

    def __init__(self, size: int) -> None:
        self._handoff: Handoff[object] = Handoff(size)
        self._size = size
        self._lagged = False

    def offer(self, event: LiveEvent) -> bool:
        """Queue the event; False once the subscriber is lagged (drop it from the fan-out)."""
        if self._lagged:
            return False
        if len(self._handoff) >= self._size - 1:
            self.lag()
            return False
        return self._handoff.offer(event)

    def lag(self) -> None:
        """Tell the subscriber it missed events and must catch up."""
        if not self._lagged:
            self._lagged = True
            self._handoff.offer(_LAGGED)

    async def events(self) -> AsyncIterator[LiveEvent]:
        while True:
            item = await self._handoff.get()
            if item is _LAGGED:
                raise SubscriberLagged
            assert isinstance(item, LiveEvent)
            yield item
