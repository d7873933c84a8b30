"""A bounded FIFO between two tasks."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

from application.futures import resolve

T = TypeVar("T")


class Handoff(Generic[T]):
    """At most `size` items between one producer, which waits while it is full, and one
    consumer, which waits while it is empty; anyone may `offer` an item without waiting.

    `asyncio.Queue` serves any number of each, at the price of four deques, an Event and a
    new future for every wait; a live turn and every open socket hold one of these instead.
    """

    __slots__ = ("_getter", "_items", "_putter", "_size")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._items: deque[T] = deque()
        self._size = size
        self._getter: asyncio.Future[None] | None = None
        self._putter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, item: T) -> bool:
        """Add the item unless the handoff is full; True if added."""
        if len(self._items) >= self._size:
            return False
        self._items.append(item)
        _wake(self._getter)
        return True

    async def put(self, item: T) -> None:
        """Add the item, waiting while the handoff is full (one producer waits at a time)."""
        while len(self._items) >= self._size:
            assert self._putter is None, "one producer waits at a time"
            self._putter = asyncio.get_running_loop().create_future()
            try:
                await self._putter
            finally:
                self._putter = None
        self._items.append(item)
        _wake(self._getter)

    async def get(self) -> T:
        """The oldest item, waiting while there is none (one consumer waits at a time)."""
        while not self._items:
            assert self._getter is None, "one consumer waits at a time"
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        item = self._items.popleft()
        _wake(self._putter)
        return item


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None:
        resolve(waiter)
