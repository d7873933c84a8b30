import asyncio

import pytest

from application.errors import ConversationNotFound, IdempotencyKeyReused
from application.ports.live_events import RESTART_MARGIN
from application.use_cases.send_message import SendMessageCommand
from domain.errors import InvalidField
from domain.messages import MessageStatus, Role
from tests.unit.application.conftest import ALICE, BOB, World


async def test_a_message_is_stored_with_a_pending_reply_and_both_are_announced(
    world: World,
) -> None:
    conversation = await world.conversation()
    accepted = await world.send_message().execute(
        SendMessageCommand(ALICE, conversation.id, "hello")
    )

    tables = world.store.tables
    stored = tables.messages[accepted.message.id]
    reply = tables.messages[accepted.reply_id]
    assert (stored.role, stored.content, stored.status) == (
        Role.USER,
        "hello",
        MessageStatus.COMPLETE,
    )
    assert (reply.role, reply.status, reply.reply_to) == (
        Role.ASSISTANT,
        MessageStatus.STREAMING,
        stored.id,
    )
    events = await world.live.replay(conversation.id, 0)
    assert [(e.type, e.message_id, e.seq) for e in events] == [
        ("message.created", stored.id, 1),
        ("message.created", reply.id, 2),
    ]
    assert (stored.event_seq, reply.event_seq) == (1, 2)


async def test_the_reply_is_produced_in_the_background_keyed_by_conversation(world: World) -> None:
    conversation = await world.conversation()
    accepted = await world.send_message().execute(
        SendMessageCommand(ALICE, conversation.id, "hello")
    )
    assert [key for key, _ in world.background.submitted] == [str(conversation.id)]

    await world.background.run_all()

    reply = world.store.tables.messages[accepted.reply_id]
    assert (reply.content, reply.status) == ("Hello there", MessageStatus.COMPLETE)


async def test_sending_touches_the_conversation(world: World) -> None:
    conversation = await world.conversation()
    world.clock.advance(60)
    await world.send_message().execute(SendMessageCommand(ALICE, conversation.id, "hi"))
    assert world.store.tables.conversations[conversation.id].updated_at == world.clock.now()


async def test_someone_elses_conversation_is_not_found_and_nothing_is_stored(world: World) -> None:
    conversation = await world.conversation(BOB)
    with pytest.raises(ConversationNotFound):
        await world.send_message().execute(SendMessageCommand(ALICE, conversation.id, "hi"))
    assert world.store.tables.messages == {}
    assert world.background.submitted == []


async def test_blank_content_is_refused_before_anything_is_stored(world: World) -> None:
    conversation = await world.conversation()
    with pytest.raises(InvalidField):
        await world.send_message().execute(SendMessageCommand(ALICE, conversation.id, "  "))
    assert world.store.tables.messages == {}


async def test_a_repeated_idempotency_key_returns_the_first_result_and_stores_nothing(
    world: World,
) -> None:
    conversation = await world.conversation()
    command = SendMessageCommand(ALICE, conversation.id, "hello", idempotency_key="k-1")
    first = await world.send_message().execute(command)
    again = await world.send_message().execute(command)

    assert (again.message.id, again.reply_id, again.replayed) == (
        first.message.id,
        first.reply_id,
        True,
    )
    assert len(world.store.tables.messages) == 2
    assert len(world.background.submitted) == 1
    assert await world.live.last_seq(conversation.id) == 2


async def test_the_same_key_with_different_content_is_refused(world: World) -> None:
    conversation = await world.conversation()
    send = world.send_message()
    await send.execute(SendMessageCommand(ALICE, conversation.id, "hello", idempotency_key="k"))
    with pytest.raises(IdempotencyKeyReused):
        await send.execute(SendMessageCommand(ALICE, conversation.id, "other", idempotency_key="k"))


async def test_two_racing_requests_with_one_key_store_one_message(world: World) -> None:
    conversation = await world.conversation()
    command = SendMessageCommand(ALICE, conversation.id, "hello", idempotency_key="race")
    first, second = await asyncio.gather(
        world.send_message().execute(command), world.send_message().execute(command)
    )
    assert first.message.id == second.message.id and first.reply_id == second.reply_id
    assert len(world.store.tables.messages) == 2
    assert len(world.background.submitted) == 1


async def test_keys_are_scoped_to_their_conversation(world: World) -> None:
    one, two = await world.conversation(), await world.conversation()
    send = world.send_message()
    a = await send.execute(SendMessageCommand(ALICE, one.id, "hi", idempotency_key="k"))
    b = await send.execute(SendMessageCommand(ALICE, two.id, "hi", idempotency_key="k"))
    assert a.message.id != b.message.id


async def test_numbering_continues_above_what_is_stored_after_a_restart(world: World) -> None:
    conversation = await world.conversation()
    await world.send_message().execute(SendMessageCommand(ALICE, conversation.id, "one"))
    await world.background.run_all()
    assert await world.live.last_seq(conversation.id) == 6  # 2 created, 3 deltas, completed
    world.live = type(world.live)()  # a fresh bus, as after a restart
    await world.send_message().execute(SendMessageCommand(ALICE, conversation.id, "two"))
    after = 6 + RESTART_MARGIN  # what was published unwritten before the restart is skipped
    assert [e.seq for e in await world.live.replay(conversation.id, after) or []] == [
        after + 1,
        after + 2,
    ]
