import asyncio

import pytest

from application.handoff import Handoff


async def test_items_come_out_in_the_order_they_went_in() -> None:
    handoff: Handoff[int] = Handoff(5)
    for n in range(3):
        await handoff.put(n)
    assert handoff.offer(3)
    assert [await handoff.get() for _ in range(4)] == [0, 1, 2, 3]


async def test_a_full_handoff_refuses_an_offer_and_holds_a_put_until_an_item_is_taken() -> None:
    handoff: Handoff[int] = Handoff(2)
    await handoff.put(1)
    await handoff.put(2)
    assert not handoff.offer(3)
    putting = asyncio.ensure_future(handoff.put(4))
    await asyncio.sleep(0)
    assert not putting.done() and len(handoff) == 2
    assert await handoff.get() == 1
    await asyncio.wait_for(putting, 1)
    assert [await handoff.get(), await handoff.get()] == [2, 4]


async def test_a_waiting_consumer_is_woken_by_a_put_or_an_offer() -> None:
    handoff: Handoff[str] = Handoff(2)
    getting = asyncio.ensure_future(handoff.get())
    await asyncio.sleep(0)
    assert not getting.done()
    await handoff.put("put")
    assert await asyncio.wait_for(getting, 1) == "put"
    getting = asyncio.ensure_future(handoff.get())
    await asyncio.sleep(0)
    assert handoff.offer("offered")
    assert await asyncio.wait_for(getting, 1) == "offered"


async def test_cancelled_waits_leave_the_handoff_usable() -> None:
    handoff: Handoff[int] = Handoff(1)
    getting = asyncio.ensure_future(handoff.get())
    await asyncio.sleep(0)
    getting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getting
    await handoff.put(1)
    putting = asyncio.ensure_future(handoff.put(2))
    await asyncio.sleep(0)
    putting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await putting
    assert len(handoff) == 1
    assert await handoff.get() == 1
    await handoff.put(3)
    assert await handoff.get() == 3


def test_a_handoff_holds_at_least_one_item() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Handoff(0)
