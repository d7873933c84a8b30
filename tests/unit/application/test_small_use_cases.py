from application.ports.live_events import RESTART_MARGIN
from application.use_cases.create_conversation import (
    CreateConversation,
    CreateConversationCommand,
)
from application.use_cases.fail_interrupted_replies import FailInterruptedReplies
from application.use_cases.produce_llm_reply import INTERRUPTED
from application.use_cases.send_message import SendMessageCommand
from domain.messages import MessageStatus
from tests.unit.application.conftest import ALICE, World


async def test_a_new_conversation_is_stored_for_its_owner(world: World) -> None:
    create = CreateConversation(world.store.uow, world.clock, world.ids)
    conversation = await create.execute(CreateConversationCommand(ALICE, "  Plans "))
    stored = world.store.tables.conversations[conversation.id]
    assert (stored.owner, stored.title, stored.created_at) == (ALICE, "Plans", world.clock.now())


async def test_replies_left_streaming_by_a_dead_process_are_failed_and_announced(
    world: World,
) -> None:
    conversation = await world.conversation()
    accepted = await world.send_message().execute(SendMessageCommand(ALICE, conversation.id, "hi"))
    world.background.submitted.clear()  # the process died before producing the reply
    world.live = type(world.live)()  # and its live events are gone

    count = await FailInterruptedReplies(world.store.uow, world.live).execute()

    assert count == 1
    reply = world.store.tables.messages[accepted.reply_id]
    assert reply.status is MessageStatus.FAILED
    [event] = await world.live.held_after(conversation.id, 0)
    resumed_at = 2 + RESTART_MARGIN + 1
    assert (event.type, event.seq, event.data["reason"]) == (
        "message.failed",
        resumed_at,
        INTERRUPTED,
    )
    assert reply.event_seq == resumed_at
