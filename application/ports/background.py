from collections.abc import Awaitable, Callable
from typing import Protocol

Work = Callable[[], Awaitable[None]]


class Slot(Protocol):
    """A place in a key's order, taken before the work that fills it is known."""

    @property
    def first(self) -> bool:
        """Nothing taken earlier under the key was still running or waiting."""
        ...

    def fill(self, work: Work) -> None:
        """Run `work` in this place (once; a slot already filled or released ignores it)."""
        ...

    def release(self) -> None:
        """Leave the place empty: work behind it goes on (no-op once filled)."""
        ...


class BackgroundWork(Protocol):
    """Runs work after the request that asked for it; work under one key runs in order."""

    def submit(self, key: str, work: Work) -> None: ...

    def reserve(self, key: str) -> Slot:
        """Take the next place under `key` now, to fill (or release) when the work is known."""
        ...
