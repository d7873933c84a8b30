import asyncio

import pytest

from application.futures import resolve


async def test_a_pending_future_is_resolved_with_success_or_the_error() -> None:
    loop = asyncio.get_running_loop()
    succeeded, failed = loop.create_future(), loop.create_future()
    resolve(succeeded)
    resolve(failed, ValueError("no"))
    assert succeeded.result() is None
    with pytest.raises(ValueError, match="no"):
        failed.result()


async def test_a_future_already_done_or_cancelled_is_left_as_it_was() -> None:
    loop = asyncio.get_running_loop()
    done, cancelled = loop.create_future(), loop.create_future()
    done.set_result(None)
    cancelled.cancel()
    resolve(done, ValueError("late"))
    resolve(cancelled)
    assert done.result() is None and cancelled.cancelled()
