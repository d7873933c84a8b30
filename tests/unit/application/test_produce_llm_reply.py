import asyncio

import pytest

from application.ports.live_events import RESTART_MARGIN
from application.reply_recorder import FlushPolicy
from application.use_cases.produce_llm_reply import INTERRUPTED, MODEL_FAILED
from application.use_cases.send_message import SendMessageCommand
from domain.messages import MessageStatus, Role
from tests.fakes.models import ScriptedChatModel
from tests.unit.application.conftest import ALICE, World


async def send(world: World, content: str = "hello"):  # type: ignore[no-untyped-def]
    conversation = await world.conversation()
    accepted = await world.send_message().execute(
        SendMessageCommand(ALICE, conversation.id, content)
    )
    return conversation, accepted


async def test_deltas_reach_clients_in_order_and_the_stored_reply_is_their_concatenation(
    world: World,
) -> None:
    conversation, accepted = await send(world)
    await world.background.run_all()

    events = await world.live.replay(conversation.id, 2)
    assert [e.type for e in events] == ["message.delta"] * 3 + ["message.completed"]
    deltas = "".join(e.data["delta"] for e in events if e.type == "message.delta")
    reply = world.store.tables.messages[accepted.reply_id]
    assert reply.content == deltas == "Hello there"
    assert events[-1].data["message"]["content"] == deltas
    assert reply.event_seq == events[-1].seq


async def test_the_model_sees_the_newest_complete_messages_oldest_first(world: World) -> None:
    conversation, _ = await send(world, "first")
    await world.background.run_all()
    await world.send_message().execute(SendMessageCommand(ALICE, conversation.id, "second"))
    await world.background.run_all()

    history = world.model.histories[-1]
    assert [(t.role, t.content) for t in history] == [
        (Role.USER, "first"),
        (Role.ASSISTANT, "Hello there"),
        (Role.USER, "second"),
    ]


async def test_writes_are_coalesced_by_size_not_one_per_delta(world: World) -> None:
    world.model = ScriptedChatModel(["abcd"] * 30)
    world.flush_policy = FlushPolicy(interval_s=60.0, max_chars=40)
    _, accepted = await send(world)
    commits_before = world.store.tables.commits
    await world.background.run_all()

    writes = world.store.tables.commits - commits_before
    assert 3 <= writes <= 30 // 10 + 2  # a flush per 40 characters, the final write, the seq
    assert world.store.tables.messages[accepted.reply_id].content == "abcd" * 30


async def test_writes_are_coalesced_by_time(world: World) -> None:
    class TickingModel(ScriptedChatModel):
        async def stream_reply(self, history):  # type: ignore[no-untyped-def]
            for delta in ["a", "b", "c", "d"]:
                world.clock.advance(0.06)
                yield delta

    world.model = TickingModel([])
    world.flush_policy = FlushPolicy(interval_s=0.1, max_chars=10_000)
    await send(world)
    before = world.store.tables.commits
    await world.background.run_all()
    assert world.store.tables.commits - before == 2 + 2  # two timed flushes, final write, seq


async def test_a_model_failure_fails_the_reply_keeping_its_text(world: World) -> None:
    world.model = ScriptedChatModel(["par", "tial", "never"], fail_after=2)
    conversation, accepted = await send(world)
    await world.background.run_all()

    reply = world.store.tables.messages[accepted.reply_id]
    assert (reply.content, reply.status) == ("partial", MessageStatus.FAILED)
    last = (await world.live.replay(conversation.id, 0))[-1]
    assert (last.type, last.data["reason"]) == ("message.failed", MODEL_FAILED)
    assert last.data["message"]["content"] == "partial"


async def test_an_unexpected_error_fails_the_reply_without_leaking_internals(world: World) -> None:
    class BrokenModel(ScriptedChatModel):
        async def stream_reply(self, history):  # type: ignore[no-untyped-def]
            yield "x"
            raise RuntimeError("secret internal detail")

    world.model = BrokenModel([])
    conversation, accepted = await send(world)
    await world.background.run_all()
    last = (await world.live.replay(conversation.id, 0))[-1]
    assert last.type == "message.failed"
    assert "secret" not in last.data["reason"]
    assert world.store.tables.messages[accepted.reply_id].status is MessageStatus.FAILED


async def test_a_shutdown_mid_stream_records_the_interruption_and_propagates(world: World) -> None:
    world.model.release.clear()
    conversation, accepted = await send(world)
    _, work = world.background.submitted.pop()
    task = asyncio.ensure_future(work())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    reply = world.store.tables.messages[accepted.reply_id]
    assert reply.status is MessageStatus.FAILED
    last = (await world.live.replay(conversation.id, 0))[-1]
    assert (last.type, last.data["reason"]) == ("message.failed", INTERRUPTED)


async def test_a_reply_that_is_no_longer_streaming_is_left_alone(world: World) -> None:
    _, accepted = await send(world)
    world.store.tables.messages[accepted.reply_id].status = MessageStatus.FAILED
    await world.background.run_all()
    assert world.model.histories == []


async def test_outcomes_and_timings_are_counted(world: World) -> None:
    await send(world)
    await world.background.run_all()
    world.model = ScriptedChatModel(["x", "y"], fail_after=1)
    await send(world)
    await world.background.run_all()
    assert world.metrics.total("convo_replies", outcome="completed") == 1
    assert world.metrics.total("convo_replies", outcome="model_failed") == 1
    assert len(world.metrics.observations["convo_first_delta_seconds"]) == 2
    assert len(world.metrics.observations["convo_reply_seconds"]) == 2


async def test_writes_happen_at_least_every_max_events(world: World) -> None:
    world.model = ScriptedChatModel(["x"] * 50)
    world.flush_policy = FlushPolicy(interval_s=60.0, max_chars=10_000, max_events=10)
    await send(world)
    before = world.store.tables.commits
    await world.background.run_all()
    assert world.store.tables.commits - before == 5 + 2  # every 10 events, final write, seq


def test_the_event_bound_stays_below_the_restart_margin() -> None:
    with pytest.raises(ValueError, match="max_events"):
        FlushPolicy(max_events=RESTART_MARGIN)
