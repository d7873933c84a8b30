"""Resolving futures that something else may have resolved or cancelled first."""

from __future__ import annotations

import asyncio
from contextlib import suppress


def resolve(done: asyncio.Future[None], error: BaseException | None = None) -> None:
    """Resolve `done` with `error` or success, unless it is already done (cancelled by a
    shutdown, or by the waiter giving up)."""
    with suppress(asyncio.InvalidStateError):
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
