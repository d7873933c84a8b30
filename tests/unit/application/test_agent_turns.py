"""The delegation use cases, driven the way the live event processor will drive them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from application.agent_sessions import AgentTurn
from application.errors import ConversationNotFound
from application.ports.agent_gateway import AgentAnswer, AgentUnavailable, UserContext
from application.use_cases.answer_agent_question import AnswerCommand
from application.use_cases.end_agent_session import EndSessionCommand
from application.use_cases.start_agent_turn import StartTurnCommand
from domain.agent_events import AgentFailed, AnswerChunk, QuestionAsked, TurnCompleted
from domain.agent_sessions import (
    AnswerConflict,
    NoPendingQuestion,
    QuestionExpired,
    QuestionMismatch,
    QuestionPending,
    SessionStatus,
    TurnAlreadyRunning,
)
from domain.errors import InvalidField
from domain.history import Strategy, WindowPolicy
from domain.messages import ChatTurn, MessageStatus, Role
from tests.fakes.delegation import FakeHistoryRepository, ScriptedAgentGateway
from tests.fakes.system import FakeClock
from tests.unit.application.delegation import (
    ALICE,
    BOB,
    Delegation,
    answer_script,
    drain,
    question_script,
)


async def run(world: Delegation, turn: AgentTurn) -> None:
    await world.run(turn)


async def stored(world: Delegation, turn: AgentTurn):  # type: ignore[no-untyped-def]
    async with world.store.uow() as uow:
        return await uow.agent_sessions.get(turn.session.id)


async def test_a_first_agent_message_opens_a_session_and_asks_the_agent() -> None:
    world = Delegation()
    conversation = await world.conversation()
    await world.said(conversation, "hello")
    await world.said(conversation, "hi, how can I help?", role=Role.ASSISTANT)
    turn = await world.first_turn(conversation, "/agent search the docs")
    assert turn.opened and turn.session.turn_running
    request = world.gateway.requests[0]
    assert request.input == "search the docs" and request.session_id is None
    assert list(request.chat_history) == [
        ChatTurn(Role.USER, "hello"),
        ChatTurn(Role.ASSISTANT, "hi, how can I help?"),
    ]
    assert request.user_context == UserContext("alice", "acme", ("docs:read",))
    assert request.profile_name == "default"
    assert request.idempotency_key is not None
    assert [e.event_id for e in await drain(turn)] == [1, 2, 3]


async def test_a_session_spans_turns_and_the_agent_keeps_its_session_id() -> None:
    world = Delegation()
    conversation = await world.conversation()
    first = await world.first_turn(conversation)
    await run(world, first)
    session = await stored(world, first)
    assert session.agent_session_id == "agent-1" and session.last_event_id == 3
    assert session.status is SessionStatus.ACTIVE and not session.turn_running
    second = await world.first_turn(conversation, "and more")
    assert not second.opened and second.session.id == first.session.id
    assert world.gateway.requests[1].session_id == "agent-1"


async def test_a_second_turn_cannot_start_while_one_runs() -> None:
    world = Delegation()
    conversation = await world.conversation()
    await world.first_turn(conversation)
    with pytest.raises(TurnAlreadyRunning):
        await world.first_turn(conversation, "again")


async def test_concurrent_first_messages_share_one_session() -> None:
    world = Delegation()
    conversation = await world.conversation()
    results = await asyncio.gather(
        *(world.first_turn(conversation, f"/agent {n}") for n in range(20)),
        return_exceptions=True,
    )
    started = [r for r in results if isinstance(r, AgentTurn)]
    busy = [r for r in results if isinstance(r, TurnAlreadyRunning)]
    assert len(started) == 1 and len(busy) == 19
    assert {b.session_id for b in busy} == {started[0].session.id}
    sessions = world.store.tables.delegation.sessions.values()
    assert [s.id for s in sessions if s.is_live] == [started[0].session.id]


async def test_only_the_owner_can_start_a_turn() -> None:
    world = Delegation()
    conversation = await world.conversation()
    message = await world.said(conversation, "hi")
    with pytest.raises(ConversationNotFound):
        await world.start().execute(
            StartTurnCommand(BOB, conversation.id, message.id, uuid4(), "hi")
        )


async def test_progress_is_recorded_with_the_agent_s_session_id() -> None:
    world = Delegation()
    conversation = await world.conversation()
    turn = await world.first_turn(conversation)
    world.clock.advance(10)
    await run(world, turn)
    session = await stored(world, turn)
    assert session.last_event_id == 3 and session.agent_session_id == "agent-1"
    assert session.last_interaction_at == world.clock.now()


async def test_a_question_pauses_the_session_until_answered() -> None:
    world = Delegation(gateway=ScriptedAgentGateway(question_script(), answer_script()))
    conversation = await world.conversation()
    await run(world, await world.first_turn(conversation))
    async with world.store.uow() as uow:
        session = await uow.agent_sessions.live_for(conversation.id)
    assert session is not None and session.status is SessionStatus.AWAITING_USER
    assert session.question is not None and session.question.choices == ("a", "b")
    assert session.question.expires_at == world.clock.now() + timedelta(minutes=5)
    with pytest.raises(QuestionPending):
        await world.first_turn(conversation, "something else")
    world.clock.advance(30)
    outcome = await world.answer().execute(AnswerCommand(ALICE, conversation.id, "q1", " b "))
    assert outcome.turn is not None and not outcome.duplicate
    resumed = world.gateway.requests[-1]
    assert resumed.answer == AgentAnswer("q1", "b") and resumed.session_id == "agent-1"
    await run(world, outcome.turn)
    assert (await stored(world, outcome.turn)).status is SessionStatus.ACTIVE


async def test_the_agent_s_own_expiry_is_kept_when_sooner() -> None:
    soon = FakeClock().now() + timedelta(seconds=60)
    asked = QuestionAsked(
        event_id=1, session_id="a", question_id="q", question="?", expires_at=soon
    )
    world = Delegation(gateway=ScriptedAgentGateway([asked]))
    conversation = await world.conversation()
    turn = await world.first_turn(conversation)
    await run(world, turn)
    session = await stored(world, turn)
    assert session.question is not None and session.question.expires_at == soon


async def test_the_same_answer_twice_is_accepted_once() -> None:
    world = Delegation(gateway=ScriptedAgentGateway(question_script(), answer_script()))
    conversation = await world.conversation()
    await run(world, await world.first_turn(conversation))
    command = AnswerCommand(ALICE, conversation.id, "q1", "a")
    first, second = await world.answer().execute(command), await world.answer().execute(command)
    assert first.turn is not None and second.duplicate
    assert len(world.gateway.requests) == 2
    with pytest.raises(AnswerConflict):
        await world.answer().execute(AnswerCommand(ALICE, conversation.id, "q1", "b"))


async def test_answers_that_fit_no_waiting_question_are_refused() -> None:
    world = Delegation(gateway=ScriptedAgentGateway(question_script()))
    conversation = await world.conversation()
    with pytest.raises(NoPendingQuestion):
        await world.answer().execute(AnswerCommand(ALICE, conversation.id, "q1", "a"))
    await run(world, await world.first_turn(conversation))
    with pytest.raises(QuestionMismatch):
        await world.answer().execute(AnswerCommand(ALICE, conversation.id, "q9", "a"))
    with pytest.raises(InvalidField, match="answer"):
        await world.answer().execute(AnswerCommand(ALICE, conversation.id, "q1", "   "))
    with pytest.raises(ConversationNotFound):
        await world.answer().execute(AnswerCommand(BOB, conversation.id, "q1", "a"))


async def test_a_late_answer_abandons_the_session_and_the_next_message_opens_a_new_one() -> None:
    world = Delegation(gateway=ScriptedAgentGateway(question_script(), answer_script()))
    conversation = await world.conversation()
    first = await world.first_turn(conversation)
    await run(world, first)
    world.clock.advance(301)
    with pytest.raises(QuestionExpired):
        await world.answer().execute(AnswerCommand(ALICE, conversation.id, "q1", "a"))
    assert (await stored(world, first)).status is SessionStatus.ABANDONED
    with pytest.raises(QuestionExpired):
        await world.answer().execute(AnswerCommand(ALICE, conversation.id, "q1", "a"))
    second = await world.first_turn(conversation, "start over")
    assert second.opened and second.session.id != first.session.id


@pytest.mark.parametrize(
    ("final", "status"),
    [
        (TurnCompleted(event_id=9), SessionStatus.ACTIVE),
        (AgentFailed(event_id=9, code="x", message="m", retryable=True), SessionStatus.ACTIVE),
        (AgentFailed(event_id=9, code="x", message="m"), SessionStatus.FAILED),
    ],
)
async def test_how_a_turn_ends_decides_the_session(
    final: TurnCompleted | AgentFailed, status: SessionStatus
) -> None:
    world = Delegation(
        gateway=ScriptedAgentGateway([AnswerChunk(event_id=1, session_id="a", text="x"), final])
    )
    conversation = await world.conversation()
    turn = await world.first_turn(conversation)
    await run(world, turn)
    session = await stored(world, turn)
    assert session.status is status and not session.turn_running
    assert session.last_event_id == 9


async def test_a_gateway_error_ends_the_turn_and_keeps_the_session() -> None:
    world = Delegation(
        gateway=ScriptedAgentGateway(
            answer_script(), fail_with=AgentUnavailable("down"), fail_after=1
        )
    )
    conversation = await world.conversation()
    turn = await world.first_turn(conversation)
    await run(world, turn)
    session = await stored(world, turn)
    assert session.status is SessionStatus.ACTIVE and not session.turn_running
    assert session.last_event_id == 1


async def test_the_user_ends_a_session_and_the_next_agent_message_opens_a_new_one() -> None:
    world = Delegation()
    conversation = await world.conversation()
    first = await world.first_turn(conversation)
    ended = await world.end().execute(EndSessionCommand(ALICE, conversation.id))
    assert ended is not None and ended.status is SessionStatus.COMPLETED
    assert await world.end().execute(EndSessionCommand(ALICE, conversation.id)) is None
    reply = await world.run(first)
    assert reply.status is MessageStatus.FAILED
    assert world.gateway.requests[-1].input == "search it"
    assert (await stored(world, first)).status is SessionStatus.COMPLETED
    assert (await world.first_turn(conversation, "again")).opened


async def test_the_sweep_completes_idle_sessions_and_abandons_expired_questions() -> None:
    world = Delegation(gateway=ScriptedAgentGateway(question_script()))
    idle_conversation, asking_conversation = await world.conversation(), await world.conversation()
    world.gateway.scripts = [answer_script(), question_script()]
    idle = await world.first_turn(idle_conversation)
    await run(world, idle)
    asking = await world.first_turn(asking_conversation)
    await run(world, asking)
    world.clock.advance(60)
    nothing = await world.expire().execute()
    assert (nothing.completed, nothing.abandoned) == (0, ())
    world.clock.advance(1800)
    swept = await world.expire().execute()
    assert swept.completed == 1 and [s.id for s in swept.abandoned] == [asking.session.id]
    assert (await stored(world, idle)).status is SessionStatus.COMPLETED
    assert (await stored(world, asking)).status is SessionStatus.ABANDONED


async def test_token_counts_are_computed_once_per_message() -> None:
    world = Delegation()
    conversation = await world.conversation()
    await world.said(conversation, *[f"message {n}" for n in range(10)])
    first = await world.first_turn(conversation)
    await run(world, first)
    counted = world.counter.counted
    await world.first_turn(conversation, "next one")
    assert world.counter.counted - counted == 3  # the new message, its reply, the routed input


@pytest.fixture
def kept(monkeypatch: pytest.MonkeyPatch) -> list[set[UUID]]:
    """The ids of the messages whose token counts each write remembered, in order."""
    remember, writes = FakeHistoryRepository.remember_token_counts, []

    async def recording(
        self: FakeHistoryRepository, encoding: str, counts: Mapping[UUID, int]
    ) -> None:
        writes.append(set(counts))
        await remember(self, encoding, counts)

    monkeypatch.setattr(FakeHistoryRepository, "remember_token_counts", recording)
    return writes


async def test_counting_in_the_starting_transaction_stops_at_its_budget(
    kept: list[set[UUID]],
) -> None:
    world = Delegation(count_chars=40)  # four of the messages below, ten characters each
    conversation = await world.conversation()
    await world.said(conversation, *[f"message {n:02}" for n in range(10)])
    first = await world.first_turn(conversation, "/agent go")

    assert [len(ids) for ids in kept] == [4, 6]  # in the starting transaction, then the rest
    said = [m for m in world.store.tables.messages.values() if m.content.startswith("message")]
    assert [t.content for t in first.request.chat_history] == [m.content for m in said]
    remembered = world.store.tables.delegation.token_counts
    assert all((m.id, "words") in remembered for m in said)
    [go] = [m for m in world.store.tables.messages.values() if m.content == "/agent go"]
    assert (go.id, "words") not in remembered  # its input was counted instead
    await run(world, first)
    await world.first_turn(conversation, "/agent again")
    assert [len(ids) for ids in kept] == [4, 6, 2]  # the first turn's message and its reply
    assert (go.id, "words") in world.store.tables.delegation.token_counts


async def test_the_newest_message_before_the_answered_one_is_counted_however_long(
    kept: list[set[UUID]],
) -> None:
    world = Delegation(count_chars=5)
    conversation = await world.conversation()
    older = await world.said(conversation, "older: not now")
    newest = await world.said(conversation, "a message longer than five characters")
    await world.first_turn(conversation, "/agent go")
    assert kept == [{newest.id}, {older.id}]  # in the starting transaction, then after it


async def test_the_history_respects_the_token_budget_and_keeps_the_input() -> None:
    world = Delegation(policy=WindowPolicy(Strategy.TOKEN_BUDGET, max_tokens=50))
    conversation = await world.conversation()
    await world.said(conversation, *["word " * 10 for _ in range(100)])
    await world.first_turn(conversation, "/agent " + "long " * 80)
    request = world.gateway.requests[0]
    assert request.chat_history == ()
    assert request.input.startswith("long long") and request.input.endswith("[…truncated]")
    assert len(request.input.split()) <= 50


async def test_the_summary_strategy_summarizes_what_falls_out() -> None:
    policy = WindowPolicy(Strategy.SUMMARY, max_tokens=60, summary_tokens=20)
    world = Delegation(policy=policy)
    conversation = await world.conversation()
    await world.said(conversation, *[f"topic{n} and more words" for n in range(30)])
    await world.first_turn(conversation, "/agent what now")
    history = list(world.gateway.requests[0].chat_history)
    assert history[0].role is Role.SYSTEM and "topic0 topic1" in history[0].content
    assert sum(len(t.content.split()) for t in history) + 2 <= 60
    assert world.summarizer.calls and world.summarizer.calls[0][1] == 20 - 5  # minus the prefix


async def test_a_failing_summarizer_falls_back_to_dropping() -> None:
    policy = WindowPolicy(Strategy.SUMMARY, max_tokens=60, summary_tokens=20)
    world = Delegation(policy=policy)
    world.summarizer.fail = True
    conversation = await world.conversation()
    await world.said(conversation, *[f"topic{n} and more words" for n in range(30)])
    await world.first_turn(conversation, "/agent what now")
    history = world.gateway.requests[0].chat_history
    assert history and all(turn.role is Role.USER for turn in history)


async def test_a_queued_message_sees_the_history_up_to_itself() -> None:
    world = Delegation()
    conversation = await world.conversation()
    await world.said(conversation, "earlier")
    queued = await world.said(conversation, "/agent first question")
    await world.said(conversation, "a later message, still waiting")
    command = StartTurnCommand(ALICE, conversation.id, queued.id, uuid4(), "first question")
    await world.start().execute(command)
    request = world.gateway.requests[0]
    assert request.input == "first question"
    assert [turn.content for turn in request.chat_history] == ["earlier"]
