"""A session's event log: every event of every run, numbered from 1, read by any number of
streams and polls while the engine appends to it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    id: int
    event: str
    data: bytes
    terminal: bool

    @property
    def frame(self) -> bytes:
        """The event as one server-sent event."""
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (self.id, self.event.encode(), self.data)


class EventsExpired(Exception):
    """The events after the id asked for are no longer held."""


class EventLog:
    """Append-only, bounded to the newest `limit` events. Readers wait without polling."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._events: list[LoggedEvent] = []
        self._first_id = 1
        self._grown = asyncio.Event()

    @property
    def last_id(self) -> int:
        return self._first_id + len(self._events) - 1

    def append(self, event: str, data: bytes, terminal: bool) -> LoggedEvent:
        logged = LoggedEvent(self.last_id + 1, event, data, terminal)
        self._events.append(logged)
        if len(self._events) > self._limit + self._limit // 8:
            dropped = len(self._events) - self._limit
            del self._events[:dropped]
            self._first_id += dropped
        self._grown.set()
        self._grown = asyncio.Event()
        return logged

    def holds_after(self, after: int) -> bool:
        """Whether every event after `after` is still held."""
        return after + 1 >= self._first_id

    def after(self, after: int, limit: int = 1000) -> list[LoggedEvent]:
        """The events after `after`, up to and including the next terminal one, at most `limit`.

        Raises EventsExpired when some of them are no longer held."""
        if not self.holds_after(after):
            raise EventsExpired(after)
        taken: list[LoggedEvent] = []
        for index in range(after + 1 - self._first_id, len(self._events)):
            event = self._events[index]
            taken.append(event)
            if event.terminal or len(taken) >= limit:
                break
        return taken

    async def wait_beyond(self, after: int, timeout_s: float) -> bool:
        """Wait until an event after `after` exists or `timeout_s` passes; True if one does."""
        if self.last_id > after:
            return True
        grown = self._grown
        try:
            async with asyncio.timeout(timeout_s):
                await grown.wait()
        except TimeoutError:
            pass
        return self.last_id > after
