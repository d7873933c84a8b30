import asyncio
from collections.abc import Awaitable
from uuid import UUID

import pytest

from application.errors import ConversationNotFound
from application.live import LiveEvent
from application.use_cases.follow_conversation import FollowCommand, LiveStream
from application.use_cases.send_message import SendMessageCommand
from domain.messages import MessageStatus
from tests.unit.application.conftest import ALICE, BOB, World


async def take(stream: Awaitable[LiveStream], count: int) -> list[LiveEvent]:
    taken = []
    async with asyncio.timeout(2):
        async for event in await stream:
            taken.append(event)
            if len(taken) == count:
                break
    return taken


async def test_a_stranger_cannot_follow_a_conversation(world: World) -> None:
    conversation = await world.conversation(BOB)
    with pytest.raises(ConversationNotFound):
        await world.follow().execute(FollowCommand(ALICE.owner, conversation.id))


async def test_a_follower_sees_the_whole_turn_as_it_happens(world: World) -> None:
    conversation = await world.conversation()
    stream = await world.follow().execute(FollowCommand(ALICE.owner, conversation.id))
    await world.send_message().execute(SendMessageCommand(ALICE, conversation.id, "hi"))
    await world.background.run_all()
    seen = await take(asyncio.sleep(0, stream), 6)
    assert [e.seq for e in seen] == [1, 2, 3, 4, 5, 6]
    assert seen[-1].type == "message.completed"


async def test_a_reconnecting_follower_gets_exactly_what_it_missed_from_the_buffer(
    world: World,
) -> None:
    conversation = await world.conversation()
    await world.send_message().execute(SendMessageCommand(ALICE, conversation.id, "hi"))
    await world.background.run_all()

    missed = await take(
        world.follow().execute(FollowCommand(ALICE.owner, conversation.id, since=3)), 3
    )
    assert [e.seq for e in missed] == [4, 5, 6]


async def test_beyond_the_buffer_a_follower_gets_the_stored_state_of_what_changed(
    world: World,
) -> None:
    world.live = type(world.live)(replay_size=2, subscriber_queue=100)
    conversation = await world.conversation()
    await world.send_message().execute(SendMessageCommand(ALICE, conversation.id, "hi"))
    await world.background.run_all()

    missed = await take(
        world.follow().execute(FollowCommand(ALICE.owner, conversation.id, since=0)), 2
    )
    assert [(e.type, e.seq) for e in missed] == [
        ("message.created", 1),
        ("message.completed", 6),
    ]
    assert missed[1].data["message"]["content"] == "Hello there"


async def test_a_stored_streaming_reply_is_followed_by_the_buffered_deltas_it_lacks(
    world: World,
) -> None:
    world.live = type(world.live)(replay_size=3, subscriber_queue=100)
    world.model.deltas = ["a", "b", "c", "d", "e"]
    conversation = await world.conversation()
    accepted = await world.send_message().execute(SendMessageCommand(ALICE, conversation.id, "x"))
    await world.background.run_all()
    reply = world.store.tables.messages[accepted.reply_id]
    # As if the service stopped after storing "abc" (seq 5) while the buffer holds seqs 6 to 8.
    reply.content, reply.event_seq, reply.status = "abc", 5, MessageStatus.STREAMING

    missed = await take(
        world.follow().execute(FollowCommand(ALICE.owner, conversation.id, since=0)), 5
    )
    assert [(e.type, e.seq) for e in missed] == [
        ("message.created", 1),
        ("message.created", 5),
        ("message.delta", 6),
        ("message.delta", 7),
        ("message.completed", 8),
    ]
    rebuilt = (
        missed[1].data["message"]["content"] + missed[2].data["delta"] + missed[3].data["delta"]
    )
    assert rebuilt == missed[4].data["message"]["content"] == "abcde"


async def test_a_follower_ahead_of_a_restarted_bus_moves_numbering_past_it(world: World) -> None:
    conversation = await world.conversation()
    await take_nothing(world, conversation.id, since=50)
    assert await world.live.last_seq(conversation.id) == 50
    await world.send_message().execute(SendMessageCommand(ALICE, conversation.id, "hi"))
    assert await world.live.last_seq(conversation.id) == 52


async def take_nothing(world: World, conversation_id: UUID, since: int) -> None:
    stream = await world.follow().execute(FollowCommand(ALICE.owner, conversation_id, since=since))
    await stream.aclose()


async def test_a_subscription_is_released_when_the_client_goes(world: World) -> None:
    conversation = await world.conversation()
    stream = await world.follow().execute(FollowCommand(ALICE.owner, conversation.id))
    await stream.aclose()
    assert world.live._channels[conversation.id].subscribers == set()


async def test_a_stream_read_and_closed_twice_releases_its_subscription_once(world: World) -> None:
    conversation = await world.conversation()
    stream = await world.follow().execute(FollowCommand(ALICE.owner, conversation.id))
    events = aiter(stream)
    await world.send_message().execute(SendMessageCommand(ALICE, conversation.id, "hi"))
    assert (await anext(events)).type == "message.created"

    await events.aclose()  # the client went: the iteration ends the subscription…
    await stream.aclose()  # …and the handler's own close finds nothing left to do
    assert world.live._channels[conversation.id].subscribers == set()
