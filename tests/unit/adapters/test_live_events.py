"""What only the in-process bus does; the port's contract is in tests/integration."""

import asyncio
from uuid import UUID

from adapters.memory.live_events import InProcessLiveEvents
from application.live import LiveEvent

CONVERSATION = UUID(int=1)


def event(conversation: UUID = CONVERSATION) -> LiveEvent:
    return LiveEvent(type="message.delta", conversation_id=conversation, message_id=None)


async def test_idle_conversations_beyond_the_cap_are_forgotten() -> None:
    bus = InProcessLiveEvents(max_conversations=2)
    for n in range(3):
        await bus.publish(event(UUID(int=n + 1)))
    assert await bus.last_seq(UUID(int=1)) == 0
    assert await bus.last_seq(UUID(int=3)) == 1


async def test_a_watched_conversation_is_never_forgotten() -> None:
    bus = InProcessLiveEvents(max_conversations=1)
    async with bus.subscribe(CONVERSATION) as events:
        await bus.publish(event(UUID(int=9)))
        await bus.publish(event())
        assert (await asyncio.wait_for(anext(events), 1)).seq == 1


async def test_pruning_forgets_quiet_unwatched_conversations_only() -> None:
    now = [0.0]
    bus = InProcessLiveEvents(retention_s=60, clock=lambda: now[0])
    quiet, watched, recent = UUID(int=1), UUID(int=2), UUID(int=3)
    await bus.publish(event(quiet))
    await bus.publish(event(watched))
    now[0] = 100.0
    await bus.publish(event(recent))
    async with bus.subscribe(watched):
        assert await bus.prune() == 1
    assert (await bus.last_seq(quiet), await bus.last_seq(watched)) == (0, 1)
    assert await bus.last_seq(recent) == 1
