import asyncio
from uuid import UUID

import pytest

from application.live import LiveEvent
from application.ports.live_events import SubscriberLagged
from application.subscriber_queue import SubscriberQueue


def event(seq: int) -> LiveEvent:
    return LiveEvent(type="message.delta", conversation_id=UUID(int=1), message_id=None, seq=seq)


async def test_a_subscriber_reads_what_was_offered_in_order() -> None:
    queue = SubscriberQueue(10)
    assert all(queue.offer(event(n)) for n in range(3))
    events = queue.events()
    assert [(await anext(events)).seq for _ in range(3)] == [0, 1, 2]


async def test_a_full_queue_marks_the_subscriber_lagged_after_what_it_holds() -> None:
    queue = SubscriberQueue(3)
    offered = [queue.offer(event(n)) for n in range(4)]
    assert offered == [True, True, False, False]
    events = queue.events()
    assert [(await anext(events)).seq for _ in range(2)] == [0, 1]
    with pytest.raises(SubscriberLagged):
        await anext(events)


async def test_lagging_is_reported_once_even_if_asked_twice() -> None:
    queue = SubscriberQueue(2)
    queue.lag()
    queue.lag()
    with pytest.raises(SubscriberLagged):
        await anext(queue.events())


async def test_a_waiting_reader_is_woken_by_the_next_offer() -> None:
    queue = SubscriberQueue(10)
    events = queue.events()
    reading = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0)
    assert not reading.done()
    queue.offer(event(7))
    assert (await asyncio.wait_for(reading, 1)).seq == 7


async def test_a_waiting_reader_is_woken_to_learn_it_lagged() -> None:
    queue = SubscriberQueue(10)
    reading = asyncio.ensure_future(anext(queue.events()))
    await asyncio.sleep(0)
    queue.lag()
    with pytest.raises(SubscriberLagged):
        await asyncio.wait_for(reading, 1)


async def test_a_reader_cancelled_while_waiting_leaves_nothing_behind() -> None:
    queue = SubscriberQueue(10)
    reading = asyncio.ensure_future(anext(queue.events()))
    await asyncio.sleep(0)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert queue.offer(event(1))
    assert (await anext(queue.events())).seq == 1
