"""One contract for the LiveEvents port, run against the in-process bus and the Redis bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from uuid import UUID

import msgspec
import pytest
from redis.asyncio import Redis

from adapters.memory.live_events import InProcessLiveEvents
from adapters.redis.live_events import RedisLiveEvents
from application.live import EventType, LiveEvent
from application.ports.live_events import RESTART_MARGIN, LiveEvents, SubscriberLagged
from entrypoints.container import build_container
from entrypoints.container.infrastructure import REDIS_CONNECTIONS
from entrypoints.settings import Settings
from tests.conftest import REDIS_URL

CONVERSATION = UUID(int=1)
encode = msgspec.json.Encoder().encode

BusFactory = Callable[..., LiveEvents]


def plain_delta(n: int) -> LiveEvent:
    """A delta as replies publish it (buses may hold these in a compact form)."""
    return LiveEvent(
        type=EventType.MESSAGE_DELTA,
        conversation_id=CONVERSATION,
        message_id=UUID(int=99),
        data={"delta": f"d{n}"},
    )


def event(n: int, conversation: UUID = CONVERSATION) -> LiveEvent:
    return LiveEvent(
        type="message.delta",
        conversation_id=conversation,
        message_id=UUID(int=99),
        data={"delta": f"d{n}", "nested": {"n": n}},
    )


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def make_bus(request: pytest.FixtureRequest, redis_prefix: str) -> AsyncIterator[BusFactory]:
    """Makes buses that share state the way instances of one deployment do."""
    made: list[tuple[RedisLiveEvents, Redis]] = []
    shared_memory: list[InProcessLiveEvents] = []

    def make(replay_size: int = 1000, subscriber_queue: int = 1000) -> LiveEvents:
        if request.param == "memory":
            if not shared_memory:
                shared_memory.append(
                    InProcessLiveEvents(replay_size=replay_size, subscriber_queue=subscriber_queue)
                )
            return shared_memory[0]
        client = Redis.from_url(REDIS_URL)
        bus = RedisLiveEvents(
            client, redis_prefix, replay_size=replay_size, subscriber_queue=subscriber_queue
        )
        made.append((bus, client))
        return bus

    yield make
    for bus, client in made:
        await bus.close()
        await client.aclose()


async def take(events: AsyncIterator[LiveEvent], count: int) -> list[LiveEvent]:
    async with asyncio.timeout(5):
        return [await anext(events) for _ in range(count)]


async def test_seq_counts_up_by_one_per_event_within_each_conversation(
    make_bus: BusFactory,
) -> None:
    bus = make_bus()
    seqs = [(await bus.publish(event(n))).seq for n in range(3)]
    other = await bus.publish(event(0, UUID(int=2)))
    assert (seqs, other.seq) == ([1, 2, 3], 1)
    assert await bus.last_seq(CONVERSATION) == 3


async def test_subscribers_receive_what_is_published_after_they_subscribed(
    make_bus: BusFactory,
) -> None:
    bus = make_bus()
    await bus.publish(event(0))
    async with bus.subscribe(CONVERSATION) as events:
        published = [await bus.publish(event(n)) for n in range(1, 4)]
        received = await take(events, 3)
    assert received == published
    assert received[0].data == {"delta": "d1", "nested": {"n": 1}}


async def test_replay_gives_back_every_kind_of_event_as_it_was_published(
    make_bus: BusFactory,
) -> None:
    bus = make_bus()
    kinds = [
        plain_delta(0),
        event(1),
        LiveEvent(type=EventType.NOTICE, conversation_id=CONVERSATION, message_id=None),
        LiveEvent(
            type=EventType.MESSAGE_DELTA,
            conversation_id=CONVERSATION,
            message_id=UUID(int=98),
            data={"delta": ""},
        ),
    ]
    published = [await bus.publish(kind) for kind in kinds]
    replayed = await bus.replay(CONVERSATION, 0)
    assert replayed == published
    assert [encode(e) for e in replayed or []] == [encode(e) for e in published]
    assert await bus.held_after(CONVERSATION, 1) == published[1:]


async def test_replay_covers_a_gap_inside_the_buffer_and_says_none_beyond_it(
    make_bus: BusFactory,
) -> None:
    bus = make_bus(replay_size=3)
    for n in range(5):
        await bus.publish(event(n) if n % 2 else plain_delta(n))
    assert [e.seq for e in await bus.replay(CONVERSATION, 2) or []] == [3, 4, 5]
    assert await bus.replay(CONVERSATION, 1) is None
    assert await bus.replay(CONVERSATION, 5) == []


async def test_a_subscriber_that_falls_behind_is_dropped_not_waited_for(
    make_bus: BusFactory,
) -> None:
    bus = make_bus(subscriber_queue=4)
    async with bus.subscribe(CONVERSATION) as events:
        for n in range(10):
            await bus.publish(event(n))
        received = []
        with pytest.raises(SubscriberLagged):
            async with asyncio.timeout(5):
                async for item in events:
                    received.append(item.seq)
    assert received == [1, 2, 3]


async def test_a_lost_counter_resumes_past_the_stored_floor_and_a_margin(
    make_bus: BusFactory,
) -> None:
    bus = make_bus()
    await bus.ensure_seq_at_least(CONVERSATION, 10)
    assert (await bus.publish(event(0))).seq == 10 + RESTART_MARGIN + 1


async def test_numbering_can_be_moved_forward_but_never_back(make_bus: BusFactory) -> None:
    bus = make_bus()
    await bus.publish(event(0))
    await bus.ensure_seq_at_least(CONVERSATION, 10)
    await bus.ensure_seq_at_least(CONVERSATION, 5)
    assert (await bus.publish(event(1))).seq == 11


async def test_a_new_conversation_starts_at_one(make_bus: BusFactory) -> None:
    bus = make_bus()
    await bus.ensure_seq_at_least(CONVERSATION, 0)
    assert (await bus.publish(event(0))).seq == 1


async def test_what_the_buffer_holds_after_a_gap_can_still_be_read(make_bus: BusFactory) -> None:
    bus = make_bus(replay_size=3)
    for n in range(6):
        await bus.publish(event(n))
    assert await bus.replay(CONVERSATION, 1) is None
    assert [e.seq for e in await bus.held_after(CONVERSATION, 1)] == [4, 5, 6]


async def test_instances_share_numbering_and_every_subscriber_sees_seq_order(
    make_bus: BusFactory,
) -> None:
    one, two = make_bus(), make_bus()
    async with one.subscribe(CONVERSATION) as on_one, two.subscribe(CONVERSATION) as on_two:
        await asyncio.gather(*(bus.publish(event(n)) for n in range(50) for bus in (one, two)))
        seen_one, seen_two = await take(on_one, 100), await take(on_two, 100)
    assert [e.seq for e in seen_one] == list(range(1, 101))
    assert seen_one == seen_two


async def test_a_thousand_publishers_at_once_are_all_numbered_and_delivered(
    make_bus: BusFactory,
) -> None:
    """More publishes in flight than a Redis client's pool holds connections (100 in redis-py),
    as a thousand streams relaying at once make."""
    bus = make_bus()
    conversations = [UUID(int=1000 + n) for n in range(10)]
    async with bus.subscribe(conversations[0]) as first:
        published = await asyncio.gather(
            *(bus.publish(event(n, c)) for n in range(100) for c in conversations)
        )
        seen = await take(first, 100)
    for conversation in conversations:
        seqs = [e.seq for e in published if e.conversation_id == conversation]
        assert sorted(seqs) == list(range(1, 101))
    assert seen == [e for e in published if e.conversation_id == conversations[0]]


async def test_leaving_and_rejoining_a_conversation_keeps_delivery_working(
    make_bus: BusFactory,
) -> None:
    bus = make_bus()
    for _ in range(3):
        async with bus.subscribe(CONVERSATION) as events:
            published = await bus.publish(event(0))
            assert await take(events, 1) == [published]


@pytest.mark.redis
async def test_a_broken_redis_subscription_tells_subscribers_to_catch_up(redis_prefix: str) -> None:
    client = Redis.from_url(REDIS_URL)
    bus = RedisLiveEvents(client, redis_prefix)
    try:
        async with bus.subscribe(CONVERSATION) as events:
            await client.client_kill_filter(_type="pubsub", skipme=True)
            with pytest.raises(SubscriberLagged):
                async with asyncio.timeout(5):
                    await anext(events)
        async with bus.subscribe(CONVERSATION) as events:
            published = await bus.publish(event(1))
            assert await take(events, 1) == [published]
    finally:
        await bus.close()
        await client.aclose()


@pytest.mark.redis
async def test_the_services_redis_client_waits_for_a_free_connection_rather_than_failing(
    redis_prefix: str,
) -> None:
    container = build_container(Settings(redis_url=REDIS_URL, redis_prefix=redis_prefix))
    client = container.infrastructure.redis()
    assert client is not None
    try:
        counts = await asyncio.gather(
            *(client.incr(f"{redis_prefix}:waits") for _ in range(REDIS_CONNECTIONS * 3))
        )
    finally:
        await client.aclose()
    assert sorted(counts) == list(range(1, REDIS_CONNECTIONS * 3 + 1))


@pytest.mark.redis
async def test_a_subscriber_leaving_after_the_redis_bus_closed_leaves_quietly(
    redis_prefix: str,
) -> None:
    client = Redis.from_url(REDIS_URL)
    bus = RedisLiveEvents(client, redis_prefix)
    try:
        async with bus.subscribe(CONVERSATION):
            await bus.close()
    finally:
        await client.aclose()
