"""The periodic jobs run on every instance: on PostgreSQL, two instances (two engines) running
the same job at once handle each session exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID

import pytest

from adapters.memory.live_events import InProcessLiveEvents
from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.ports.unit_of_work import UnitOfWorkFactory
from application.use_cases.end_agent_session import ExpireAgentSessions
from application.use_cases.recover_agent_turns import ReapStaleTurns, RecoverAgentTurns
from application.use_cases.sweep_agent_sessions import SweepAgentSessions
from domain.agent_events import QuestionAsked
from domain.agent_sessions import AgentSession, PendingQuestion, SessionStatus
from domain.conversations import Conversation, Owner
from domain.messages import Message
from tests.conftest import truncate_all
from tests.fakes.delegation import ScriptedAgentGateway
from tests.fakes.models import RecordedBackground
from tests.fakes.system import FakeClock

pytestmark = pytest.mark.postgres
SESSIONS = 20


@pytest.fixture
async def two_instances(postgres_url: str) -> AsyncIterator[list[UnitOfWorkFactory]]:
    await truncate_all(postgres_url)
    engines = [create_engine(postgres_url), create_engine(postgres_url)]
    yield [lambda engine=engine: SqlUnitOfWork(engine) for engine in engines]
    for engine in engines:
        await engine.dispose()


async def seed(uow: UnitOfWorkFactory, clock: FakeClock, waiting: bool) -> list[AgentSession]:
    """SESSIONS conversations, each with a session that either waits on a question or runs a
    turn into a streaming reply."""
    sessions = []
    async with uow() as tx:
        for n in range(1, SESSIONS + 1):
            now = clock.now()
            conversation = Conversation.start(UUID(int=n), Owner("acme", "alice"), None, now)
            await tx.conversations.add(conversation)
            user = Message.from_user(UUID(int=1000 + n), conversation.id, "hi", now)
            reply = Message.pending_reply(UUID(int=2000 + n), conversation.id, user.id, now, True)
            await tx.messages.add(user)
            await tx.messages.add(reply)
            session = AgentSession.open(UUID(int=3000 + n), conversation.id, "default", now)
            session.assign_turn(reply.id, now + timedelta(seconds=30))
            if waiting:
                asked = QuestionAsked(event_id=1, question_id=f"q{n}", question="?")
                session.ask(PendingQuestion.asked(asked, now, timedelta(seconds=60)), now)
            await tx.agent_sessions.add(session)
            sessions.append(session)
        await tx.commit()
    return sessions


async def statuses(uow: UnitOfWorkFactory, sessions: list[AgentSession]) -> set[SessionStatus]:
    async with uow() as tx:
        found = [await tx.agent_sessions.get(s.id) for s in sessions]
    return {s.status for s in found if s is not None}


async def test_two_instances_sweeping_at_once_abandon_each_expired_question_once(
    two_instances: list[UnitOfWorkFactory],
) -> None:
    clock, live = FakeClock(), InProcessLiveEvents()
    sessions = await seed(two_instances[0], clock, waiting=True)
    clock.advance(120)
    sweeps = [
        SweepAgentSessions(ExpireAgentSessions(uow, clock, timedelta(hours=1)), live, uow)
        for uow in two_instances
    ]
    handled = await asyncio.gather(*(sweep.execute() for sweep in sweeps))

    assert sum(handled) == SESSIONS
    assert await statuses(two_instances[0], sessions) == {SessionStatus.ABANDONED}
    for session in sessions:
        notices = await live.held_after(session.conversation_id, 0)
        assert [e.type for e in notices] == ["agent.question_expired"]


async def test_two_instances_reaping_at_once_fail_each_stale_turn_once(
    two_instances: list[UnitOfWorkFactory],
) -> None:
    clock, live = FakeClock(), InProcessLiveEvents()
    sessions = await seed(two_instances[0], clock, waiting=False)
    clock.advance(1000)
    reapers = [ReapStaleTurns(uow, clock, live, timedelta(seconds=330)) for uow in two_instances]
    reaped = await asyncio.gather(*(reaper.execute() for reaper in reapers))

    assert sum(reaped) == SESSIONS
    assert await statuses(two_instances[0], sessions) == {SessionStatus.FAILED}
    for session in sessions:
        kinds = [e.type for e in await live.held_after(session.conversation_id, 0)]
        assert kinds == ["message.failed", "notice"]


async def test_two_instances_take_over_each_orphaned_turn_once(
    two_instances: list[UnitOfWorkFactory],
) -> None:
    clock, live = FakeClock(), InProcessLiveEvents()
    sessions = await seed(two_instances[0], clock, waiting=False)
    async with two_instances[0]() as tx:  # each turn heard from the agent before its crash
        for session in sessions:
            stored = await tx.agent_sessions.get(session.id)
            assert stored is not None
            stored.bind(f"agent-{session.id}")
            await tx.agent_sessions.save(stored)
        await tx.commit()
    clock.advance(31)  # every lease lapsed
    recoveries = [
        RecoverAgentTurns(
            uow,
            clock,
            live,
            ScriptedAgentGateway([]),
            RecordedBackground(),
            run=lambda turn, reply: asyncio.sleep(0),
            lease=timedelta(seconds=30),
        )
        for uow in two_instances
    ]
    taken = await asyncio.gather(*(recovery.execute() for recovery in recoveries))

    assert taken[0].isdisjoint(taken[1])
    assert taken[0] | taken[1] == {UUID(int=2000 + n) for n in range(1, SESSIONS + 1)}
    assert await recoveries[0].execute() == set()  # the new leases hold
