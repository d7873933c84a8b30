import asyncio
from uuid import UUID

import pytest

from adapters.memory.live_events import InProcessLiveEvents
from application.live import LiveEvent
from application.ports.live_events import SubscriberLagged

CONVERSATION = UUID(int=1)


def event(n: int, conversation: UUID = CONVERSATION) -> LiveEvent:
    return LiveEvent(
        type="message.delta", conversation_id=conversation, message_id=None, data={"n": n}
    )


async def test_seq_counts_up_by_one_per_event_within_each_conversation() -> None:
    bus = InProcessLiveEvents()
    seqs = [(await bus.publish(event(n))).seq for n in range(3)]
    other = await bus.publish(event(0, UUID(int=2)))
    assert (seqs, other.seq) == ([1, 2, 3], 1)


async def test_subscribers_receive_events_published_after_they_subscribed_in_order() -> None:
    bus = InProcessLiveEvents()
    await bus.publish(event(0))
    async with bus.subscribe(CONVERSATION) as events:
        for n in range(1, 4):
            await bus.publish(event(n))
        received = [await anext(events) for _ in range(3)]
    assert [e.seq for e in received] == [2, 3, 4]


async def test_replay_covers_a_gap_inside_the_buffer_and_says_none_beyond_it() -> None:
    bus = InProcessLiveEvents(replay_size=3)
    for n in range(5):
        await bus.publish(event(n))
    assert [e.seq for e in await bus.replay(CONVERSATION, 2) or []] == [3, 4, 5]
    assert await bus.replay(CONVERSATION, 1) is None
    assert await bus.replay(CONVERSATION, 5) == []


async def test_a_subscriber_that_falls_behind_is_dropped_not_waited_for() -> None:
    bus = InProcessLiveEvents(subscriber_queue=4)
    async with bus.subscribe(CONVERSATION) as events:
        for n in range(10):
            await bus.publish(event(n))
        received = []
        with pytest.raises(SubscriberLagged):
            async for item in events:
                received.append(item.seq)
    assert received == [1, 2, 3]


async def test_numbering_can_be_moved_forward_but_never_back() -> None:
    bus = InProcessLiveEvents()
    await bus.ensure_seq_at_least(CONVERSATION, 10)
    await bus.ensure_seq_at_least(CONVERSATION, 5)
    assert (await bus.publish(event(0))).seq == 11


async def test_leaving_a_subscription_stops_delivery_to_it() -> None:
    bus = InProcessLiveEvents(subscriber_queue=2)
    async with bus.subscribe(CONVERSATION):
        pass
    for n in range(10):
        await bus.publish(event(n))  # would overflow a queue still attached


async def test_idle_conversations_beyond_the_cap_are_forgotten() -> None:
    bus = InProcessLiveEvents(max_conversations=2)
    for n in range(3):
        await bus.publish(event(0, UUID(int=n + 1)))
    assert await bus.last_seq(UUID(int=1)) == 0
    assert await bus.last_seq(UUID(int=3)) == 1


async def test_a_watched_conversation_is_never_forgotten() -> None:
    bus = InProcessLiveEvents(max_conversations=1)
    async with bus.subscribe(CONVERSATION) as events:
        await bus.publish(event(0, UUID(int=9)))
        await bus.publish(event(1))
        assert (await asyncio.wait_for(anext(events), 1)).seq == 1
