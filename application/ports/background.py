from collections.abc import Awaitable, Callable
from typing import Protocol


class BackgroundWork(Protocol):
    """Runs work after the request that asked for it; work under one key runs in order."""

    def submit(self, key: str, work: Callable[[], Awaitable[None]]) -> None: ...
