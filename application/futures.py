"""Resolving futures that something else may have resolved or cancelled first."""

from __future__ import annotations

import asyncio


def resolve(done: asyncio.Future[None], error: BaseException | None = None) -> None:
    """Resolve `done` with `error` or success, unless it is already done (cancelled by a
    shutdown, or by the waiter giving up). Called for every live event: a check, not a
    `suppress` block, which costs a context manager each time."""
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
