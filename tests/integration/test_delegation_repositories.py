"""One contract for the delegation storage ports, run against the SQL adapter on SQLite and
PostgreSQL and against the in-memory fake, so that the fake cannot drift."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.ports.agent_sessions import LiveSessionExists, StaleAgentSession
from application.ports.repositories import ConversationState
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.agent_sessions import AgentSession, PendingQuestion, SessionStatus
from domain.conversations import Conversation, Owner
from domain.messages import Message
from domain.routing import BusyPolicy, Override, Overrides
from tests.conftest import BACKENDS, empty_database
from tests.fakes.storage import FakeStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ALICE = Owner("acme", "alice")


@pytest.fixture(params=["fake", *BACKENDS])
async def uow(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[UnitOfWorkFactory]:
    if request.param == "fake":
        yield FakeStore().uow
        return
    engine = create_engine(await empty_database(request, request.param, tmp_path))
    yield lambda: SqlUnitOfWork(engine)
    await engine.dispose()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


async def conversation(uow: UnitOfWorkFactory, n: int = 1) -> Conversation:
    made = Conversation.start(UUID(int=n), ALICE, f"c{n}", T0)
    async with uow() as tx:
        await tx.conversations.add(made)
        await tx.commit()
    return made


async def stored_session(uow: UnitOfWorkFactory, n: int = 100, conversation_n: int = 1):
    session = AgentSession.open(UUID(int=n), UUID(int=conversation_n), "default", at(0))
    async with uow() as tx:
        await tx.agent_sessions.add(session)
        await tx.commit()
    return session


async def test_a_session_round_trips_in_both_directions(uow: UnitOfWorkFactory) -> None:
    await conversation(uow)
    session = await stored_session(uow)
    session.bind("agent-7")
    session.record_event(3, at(5))
    async with uow() as tx:
        await tx.agent_sessions.save(session)
        await tx.commit()
    async with uow() as tx:
        by_conversation = await tx.agent_sessions.live_for(UUID(int=1))
        by_agent = await tx.agent_sessions.by_agent_session_id("agent-7")
        by_id = await tx.agent_sessions.get(session.id)
    assert by_conversation == by_agent == by_id == session
    assert by_id is not None and by_id.version == 1 and by_id.turn_running
    assert by_id.last_interaction_at.tzinfo is not None


async def test_a_conversation_has_at_most_one_live_session(uow: UnitOfWorkFactory) -> None:
    await conversation(uow)
    await stored_session(uow, 100)
    with pytest.raises(LiveSessionExists):
        async with uow() as tx:
            await tx.agent_sessions.add(AgentSession.open(UUID(int=101), UUID(int=1), "p", at(1)))
            await tx.commit()
    async with uow() as tx:
        assert await tx.agent_sessions.get(UUID(int=101)) is None


async def test_an_ended_session_makes_room_for_a_new_one(uow: UnitOfWorkFactory) -> None:
    await conversation(uow)
    first = await stored_session(uow, 100)
    first.complete(at(1))
    async with uow() as tx:
        await tx.agent_sessions.save(first)
        await tx.commit()
    second = await stored_session(uow, 101)
    async with uow() as tx:
        assert (await tx.agent_sessions.live_for(UUID(int=1))) == second
        latest = await tx.agent_sessions.latest_for(UUID(int=1))
        assert latest is not None and latest.id == second.id


async def state_of(uow: UnitOfWorkFactory, n: int = 1) -> ConversationState | None:
    async with uow() as tx:
        return await tx.conversations.get_state(UUID(int=n))


async def test_a_conversations_state_holds_its_seq_floor_live_session_and_whether_it_has_messages(
    uow: UnitOfWorkFactory,
) -> None:
    mine, theirs = await conversation(uow), await conversation(uow, 2)
    assert await state_of(uow) == ConversationState(mine, 0, None, has_messages=False)
    first = await stored_session(uow, 100)
    await stored_session(uow, 200, conversation_n=2)
    first.ask(PendingQuestion("q1", "Which?", at(1), at(301), ("a", "b")), at(1))
    message = Message.from_user(UUID(int=900), mine.id, "hello", T0)
    async with uow() as tx:
        await tx.agent_sessions.save(first)
        await tx.messages.add(message)
        await tx.messages.record_event_seqs({message.id: 7})
        await tx.commit()
    waiting = await state_of(uow)
    assert waiting == ConversationState(mine, 7, first, has_messages=True)
    assert waiting.live_session is not None and waiting.live_session.question == first.question

    first.abandon(at(2))
    async with uow() as tx:
        await tx.agent_sessions.save(first)
        await tx.commit()
    assert await state_of(uow) == ConversationState(mine, 7, None, has_messages=True)
    second = await stored_session(uow, 101)
    assert await state_of(uow) == ConversationState(mine, 7, second, has_messages=True)
    other = await state_of(uow, 2)
    assert other is not None and other.conversation == theirs and not other.has_messages
    async with uow() as tx:  # stored, its seq not yet: the floor stays 0
        await tx.messages.add(Message.from_user(UUID(int=901), theirs.id, "hi", T0))
        await tx.commit()
    other = await state_of(uow, 2)
    assert other is not None and other.event_floor == 0 and other.has_messages
    assert other.live_session is not None and other.live_session.id == UUID(int=200)
    assert await state_of(uow, 99) is None


async def test_a_save_over_a_newer_version_is_refused(uow: UnitOfWorkFactory) -> None:
    await conversation(uow)
    await stored_session(uow)
    async with uow() as tx:
        mine = await tx.agent_sessions.get(UUID(int=100))
    async with uow() as tx:
        theirs = await tx.agent_sessions.get(UUID(int=100))
        assert theirs is not None
        theirs.end_turn(at(1))
        await tx.agent_sessions.save(theirs)
        await tx.commit()
    assert mine is not None
    mine.fail(at(2))
    with pytest.raises(StaleAgentSession):
        async with uow() as tx:
            await tx.agent_sessions.save(mine)
            await tx.commit()
    async with uow() as tx:
        stored = await tx.agent_sessions.get(UUID(int=100))
    assert stored is not None and stored.status is SessionStatus.ACTIVE and stored.version == 1


async def test_the_pending_question_is_stored_with_its_answer(uow: UnitOfWorkFactory) -> None:
    await conversation(uow)
    session = await stored_session(uow)
    session.ask(PendingQuestion("q1", "Which?", at(1), at(301), ("a", "b")), at(1))
    async with uow() as tx:
        await tx.agent_sessions.save(session)
        await tx.commit()
    async with uow() as tx:
        waiting = await tx.agent_sessions.live_for(UUID(int=1))
    assert waiting == session and waiting.question is not None
    assert waiting.question.choices == ("a", "b")
    waiting.answer("q1", "b", at(2))
    async with uow() as tx:
        await tx.agent_sessions.save(waiting)
        await tx.commit()
    async with uow() as tx:
        answered = await tx.agent_sessions.get(session.id)
    assert answered is not None and answered.question is not None
    assert (answered.question.answer, answered.question.answered_at) == ("b", at(2))
    assert answered.status is SessionStatus.ACTIVE


async def test_idle_sessions_complete_in_bulk_with_their_versions_bumped(
    uow: UnitOfWorkFactory,
) -> None:
    for n in (1, 2, 3):
        await conversation(uow, n)
    idle, running, recent = [await stored_session(uow, 100 + n, n) for n in (1, 2, 3)]
    idle.end_turn(at(1))
    recent.end_turn(at(1000))
    async with uow() as tx:
        await tx.agent_sessions.save(idle)
        await tx.agent_sessions.save(recent)
        await tx.commit()
    async with uow() as tx:
        assert await tx.agent_sessions.complete_idle(at(500), at(2000)) == 1
        await tx.commit()
    async with uow() as tx:
        done = await tx.agent_sessions.get(idle.id)
        assert done is not None and done.status is SessionStatus.COMPLETED
        assert done.version == idle.version + 1
        assert (await tx.agent_sessions.get(running.id)).status is SessionStatus.ACTIVE  # type: ignore[union-attr]
        assert (await tx.agent_sessions.get(recent.id)).status is SessionStatus.ACTIVE  # type: ignore[union-attr]


async def test_sessions_with_expired_questions_are_found_oldest_first(
    uow: UnitOfWorkFactory,
) -> None:
    for n in (1, 2, 3):
        await conversation(uow, n)
    sessions = [await stored_session(uow, 100 + n, n) for n in (1, 2, 3)]
    for session, expires in zip(sessions, (200, 100, 900), strict=True):
        session.ask(PendingQuestion("q", "?", at(1), at(expires)), at(1))
        async with uow() as tx:
            await tx.agent_sessions.save(session)
            await tx.commit()
    async with uow() as tx:
        found = await tx.agent_sessions.with_expired_questions(at(300), 10)
    assert [s.id.int for s in found] == [102, 101]


async def test_sessions_go_with_their_conversation(uow: UnitOfWorkFactory) -> None:
    await conversation(uow)
    await stored_session(uow)
    async with uow() as tx:
        assert await tx.agent_sessions.latest_for(UUID(int=1)) is not None
        assert await tx.agent_sessions.latest_for(UUID(int=2)) is None


async def test_routing_overrides_per_organisation_and_user(uow: UnitOfWorkFactory) -> None:
    async with uow() as tx:
        assert await tx.routing_overrides.for_owner(ALICE) == Overrides()
        await tx.routing_overrides.put("acme", None, Override(True, BusyPolicy.REJECT), T0)
        await tx.routing_overrides.put("acme", "alice", Override(False), T0)
        await tx.routing_overrides.put("acme", "bob", Override(True), T0)
        await tx.routing_overrides.put("acme", "alice", Override(None), at(1))
        await tx.commit()
    async with uow() as tx:
        overrides = await tx.routing_overrides.for_owner(ALICE)
        assert overrides == Overrides(org=Override(True, BusyPolicy.REJECT), user=Override())
        assert await tx.routing_overrides.users_of("acme") == [
            ("alice", Override()),
            ("bob", Override(True)),
        ]
        assert await tx.routing_overrides.delete("acme", None) is True
        assert await tx.routing_overrides.delete("acme", None) is False
        await tx.commit()
    async with uow() as tx:
        assert (await tx.routing_overrides.for_owner(ALICE)).org == Override()


async def test_token_counts_are_remembered_per_vocabulary(uow: UnitOfWorkFactory) -> None:
    made = await conversation(uow)
    async with uow() as tx:
        for n in range(3):
            await tx.messages.add(Message.from_user(UUID(int=10 + n), made.id, f"m{n}", at(n)))
        await tx.commit()
    async with uow() as tx:
        assert [t for _, t in await tx.history.recent(made.id, 10, "o200k_base")] == [None] * 3
        await tx.history.remember_token_counts("o200k_base", {UUID(int=10): 4, UUID(int=12): 6})
        await tx.commit()
    async with uow() as tx:
        recent = await tx.history.recent(made.id, 2, "o200k_base")
        other = await tx.history.recent(made.id, 10, "cl100k_base")
    assert [(m.content, t) for m, t in recent] == [("m1", None), ("m2", 6)]
    assert [t for _, t in other] == [None] * 3


async def test_a_turns_reply_and_lease_are_stored_and_cleared_with_the_turn(
    uow: UnitOfWorkFactory,
) -> None:
    await conversation(uow)
    session = await stored_session(uow)
    session.assign_turn(UUID(int=500), at(30))
    async with uow() as tx:
        await tx.agent_sessions.save(session)
        await tx.commit()
    async with uow() as tx:
        stored = await tx.agent_sessions.get(session.id)
    assert (stored.turn_reply_id, stored.turn_lease_until) == (UUID(int=500), at(30))
    stored.end_turn(at(40))
    async with uow() as tx:
        await tx.agent_sessions.save(stored)
        await tx.commit()
    async with uow() as tx:
        ended = await tx.agent_sessions.get(session.id)
    assert (ended.turn_reply_id, ended.turn_lease_until, ended.turn_running) == (None, None, False)


async def test_turns_without_a_live_lease_or_without_news_are_found(
    uow: UnitOfWorkFactory,
) -> None:
    for n in (1, 2, 3):
        await conversation(uow, n)
    leased = await stored_session(uow, 100, 1)
    leased.assign_turn(UUID(int=501), at(100))
    lapsed = await stored_session(uow, 101, 2)
    lapsed.assign_turn(UUID(int=502), at(10))
    idle = await stored_session(uow, 102, 3)
    idle.end_turn(at(1))
    async with uow() as tx:
        for session in (leased, lapsed, idle):
            await tx.agent_sessions.save(session)
        await tx.commit()
    async with uow() as tx:
        unleased = await tx.agent_sessions.with_unleased_turns(at(50), 10)
        stale = await tx.agent_sessions.with_stale_turns(at(0), 10)
        fresh = await tx.agent_sessions.with_stale_turns(at(-1), 10)
    assert [s.id for s in unleased] == [lapsed.id]
    assert {s.id for s in stale} == {leased.id, lapsed.id}
    assert fresh == []


async def running_turns(uow: UnitOfWorkFactory, count: int) -> list[AgentSession]:
    """`count` stored sessions of their own conversations, each running a turn (as saved)."""
    sessions = []
    for n in range(1, count + 1):
        await conversation(uow, n)
        session = await stored_session(uow, 100 + n, n)
        session.assign_turn(UUID(int=500 + n), at(30))
        sessions.append(session)
    async with uow() as tx:
        for session in sessions:
            await tx.agent_sessions.save(session)
        await tx.commit()
    return sessions


async def test_turn_progress_of_many_sessions_is_saved_at_once(uow: UnitOfWorkFactory) -> None:
    sessions = await running_turns(uow, 3)
    async with uow() as tx:
        theirs = await tx.agent_sessions.get(sessions[1].id)
    assert theirs is not None
    theirs.end_turn(at(35))
    async with uow() as tx:
        await tx.agent_sessions.save(theirs)
        await tx.commit()
    for n, session in enumerate(sessions, start=1):
        session.bind(f"agent-{n}")
        session.record_event(10 * n, at(40 + n))
        session.renew_lease(at(100 + n))

    async with uow() as tx:
        stale = await tx.agent_sessions.save_progress(sessions)
        await tx.commit()

    assert stale == [sessions[1]]
    assert [s.version for s in sessions] == [2, 1, 2]
    async with uow() as tx:
        stored = [await tx.agent_sessions.get(s.id) for s in sessions]
    first, skipped, third = stored
    assert first == sessions[0] and third == sessions[2]
    assert (first.agent_session_id, first.last_event_id) == ("agent-1", 10)
    assert (third.last_interaction_at, third.turn_lease_until) == (at(43), at(103))
    assert skipped == theirs and not skipped.turn_running and skipped.agent_session_id is None


async def test_turns_ending_are_saved_with_the_progress_of_others(uow: UnitOfWorkFactory) -> None:
    sessions = await running_turns(uow, 2)
    running, ending = sessions
    running.record_event(7, at(40))
    ending.record_event(9, at(41))
    ending.end_turn(at(42))

    async with uow() as tx:
        assert await tx.agent_sessions.save_progress(sessions) == []
        await tx.commit()

    async with uow() as tx:
        stored = [await tx.agent_sessions.get(s.id) for s in sessions]
    assert stored == sessions
    assert stored[0] is not None and stored[0].turn_reply_id == UUID(int=501)
    assert stored[1] is not None and not stored[1].turn_running
    assert (stored[1].turn_reply_id, stored[1].turn_lease_until) == (None, None)


async def test_the_progress_of_several_replies_is_saved_at_once(uow: UnitOfWorkFactory) -> None:
    await conversation(uow)
    replies = [
        Message.pending_reply(UUID(int=200 + n), UUID(int=1), UUID(int=300 + n), at(n), True)
        for n in range(3)
    ]
    async with uow() as tx:
        for n in range(3):
            await tx.messages.add(Message.from_user(UUID(int=300 + n), UUID(int=1), "q", at(n)))
            await tx.messages.add(replies[n])
        await tx.commit()
    for n, reply in enumerate(replies):
        reply.append(f"answer {n}")
        reply.event_seq = 5 + n
        assert reply.agent is not None
        reply.agent.tool_started(f"call-{n}", "search")
    replies[2].complete()

    async with uow() as tx:
        await tx.messages.save_progress(*replies)
        await tx.commit()

    async with uow() as tx:
        stored = [await tx.messages.get(reply.id) for reply in replies]
    assert stored == replies


async def test_a_group_write_never_lowers_a_seq_and_keeps_replies_without_agent_data(
    uow: UnitOfWorkFactory,
) -> None:
    await conversation(uow)
    by_model = Message.pending_reply(UUID(int=210), UUID(int=1), UUID(int=310), at(0), False)
    by_agent = Message.pending_reply(UUID(int=211), UUID(int=1), UUID(int=311), at(1), True)
    async with uow() as tx:
        for n, reply in ((310, by_model), (311, by_agent)):
            await tx.messages.add(Message.from_user(UUID(int=n), UUID(int=1), "q", at(0)))
            await tx.messages.add(reply)
        await tx.messages.record_event_seqs({by_model.id: 9, by_agent.id: 9})
        await tx.commit()
    by_model.append("partial")
    by_model.event_seq = 4  # an older write's view: the stored seq stays
    by_agent.append("more")
    by_agent.event_seq = 12

    async with uow() as tx:
        await tx.messages.save_progress(by_model, by_agent)
        await tx.commit()

    async with uow() as tx:
        model_reply, agent_reply = [await tx.messages.get(m.id) for m in (by_model, by_agent)]
    assert model_reply is not None and agent_reply is not None
    assert (model_reply.content, model_reply.event_seq, model_reply.agent) == ("partial", 9, None)
    assert (agent_reply.content, agent_reply.event_seq) == ("more", 12)
    assert agent_reply.agent == by_agent.agent
