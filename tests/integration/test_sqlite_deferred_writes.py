"""On SQLite a user's message with its reply and activity, a new agent session and a
session's versioned update (`sqlite_deferred_writes`) are written on the connection's thread
with their transaction's next trip there, the next statement's or the COMMIT's
(`sqlite_one_trip`): no trip of their own while the write lock is held. What they store is
the repositories' contract (test_repositories, test_delegation_repositories)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.sqlite_one_trip import Writing
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.ports.agent_sessions import LiveSessionExists, StaleAgentSession
from application.ports.repositories import DuplicateIdempotencyKey
from domain.agent_sessions import AgentSession
from domain.conversations import Conversation, Owner
from domain.messages import Message

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
CONVERSATION = UUID(int=1)


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url)
    conversation = Conversation.start(CONVERSATION, Owner("acme", "alice"), "c", T0)
    async with SqlUnitOfWork(engine) as tx:
        await tx.conversations.add(conversation)
        await tx.commit()
    yield engine
    await engine.dispose()


def exchange(n: int) -> tuple[Conversation, Message, Message]:
    now = T0 + timedelta(seconds=n)
    conversation = Conversation(CONVERSATION, Owner("acme", "alice"), "c", T0, now)
    message = Message.from_user(UUID(int=10 * n), conversation.id, f"q{n}", now)
    reply = Message.pending_reply(UUID(int=10 * n + 1), conversation.id, message.id, now, True)
    return conversation, message, reply


def session(n: int) -> AgentSession:
    return AgentSession.open(UUID(int=100 + n), CONVERSATION, "default", T0)


async def writing_of(tx: SqlUnitOfWork) -> Writing:
    raw = await tx.messages._connection.get_raw_connection()
    return raw.dbapi_connection.writing  # type: ignore[union-attr]


async def test_a_first_agent_message_is_stored_with_its_session_in_the_commits_trip(
    engine: AsyncEngine, trips: list[str]
) -> None:
    conversation, message, reply = exchange(1)
    started = session(1)
    async with SqlUnitOfWork(engine) as tx:
        await tx.conversations.get(conversation.id)
        trips.clear()
        await tx.messages.add_with_reply(conversation, message, reply, "key")
        await tx.agent_sessions.add(started)
        assert trips == []
        await tx.commit()
        assert len(trips) == 1 and "_commit_deferred" in trips[0], trips
        writing = await writing_of(tx)
        assert not writing.held
    async with SqlUnitOfWork(engine) as tx:
        assert await tx.messages.get(message.id) == message
        assert await tx.messages.reply_to(message.id) == reply
        assert await tx.conversations.get(conversation.id) == conversation
        assert await tx.agent_sessions.live_for(CONVERSATION) == started


async def test_deferred_writes_go_before_the_next_statement_which_sees_them(
    engine: AsyncEngine, trips: list[str]
) -> None:
    conversation, message, reply = exchange(2)
    async with SqlUnitOfWork(engine) as tx:
        await tx.conversations.get(conversation.id)
        trips.clear()
        await tx.messages.add_with_reply(conversation, message, reply, None)
        await tx.agent_sessions.add(session(2))
        assert await tx.messages.get(reply.id) == reply
        assert await tx.agent_sessions.live_for(CONVERSATION) == session(2)
        assert trips == ["_run_statement", "_run_statement"]
        await tx.commit()
    async with SqlUnitOfWork(engine) as tx:
        assert await tx.messages.get(message.id) == message


async def test_as_a_transactions_only_work_they_take_the_writer_lock_and_begin_at_commit(
    engine: AsyncEngine,
) -> None:
    conversation, message, reply = exchange(3)
    async with SqlUnitOfWork(engine) as tx:
        await tx.messages.add_with_reply(conversation, message, reply, None)
        writing = await writing_of(tx)
        assert not writing.held  # nothing ran yet
        await tx.commit()
        assert not writing.held
    async with SqlUnitOfWork(engine) as tx:
        assert await tx.messages.get(message.id) == message


async def test_a_rollback_drops_them_without_a_trip(engine: AsyncEngine, trips: list[str]) -> None:
    conversation, message, reply = exchange(4)
    async with SqlUnitOfWork(engine) as tx:
        await tx.conversations.get(conversation.id)
        writing = await writing_of(tx)
        assert writing.held
        await tx.messages.add_with_reply(conversation, message, reply, None)
        trips.clear()
        # left uncommitted: rolled back
    assert trips == ["_rollback"]
    assert not writing.held
    async with SqlUnitOfWork(engine) as tx:
        assert await tx.messages.get(message.id) is None
        stored = await tx.conversations.get(conversation.id)
        assert stored is not None and stored.updated_at == T0


async def test_a_refused_exchange_is_raised_by_the_commit_which_rolls_everything_back(
    engine: AsyncEngine,
) -> None:
    conversation, message, reply = exchange(5)
    async with SqlUnitOfWork(engine) as tx:
        await tx.messages.add_with_reply(conversation, message, reply, "same")
        await tx.commit()
    again, repeated, its_reply = exchange(6)
    with pytest.raises(DuplicateIdempotencyKey):
        async with SqlUnitOfWork(engine) as tx:
            await tx.conversations.get(conversation.id)
            await tx.agent_sessions.add(session(6))
            await tx.messages.add_with_reply(again, repeated, its_reply, "same")
            writing = await writing_of(tx)
            await tx.commit()
    assert not writing.held
    async with SqlUnitOfWork(engine) as tx:
        assert await tx.messages.get(repeated.id) is None
        assert await tx.agent_sessions.live_for(CONVERSATION) is None
        stored = await tx.conversations.get(conversation.id)
        assert stored is not None and stored.updated_at == conversation.updated_at


async def test_a_refused_session_is_raised_by_the_next_statement(engine: AsyncEngine) -> None:
    async with SqlUnitOfWork(engine) as tx:
        await tx.agent_sessions.add(session(7))
        await tx.commit()
    with pytest.raises(LiveSessionExists):
        async with SqlUnitOfWork(engine) as tx:
            await tx.agent_sessions.add(session(8))
            writing = await writing_of(tx)
            await tx.messages.get(UUID(int=8))
    assert not writing.held
    async with SqlUnitOfWork(engine) as tx:
        assert await tx.agent_sessions.get(session(8).id) is None


async def test_a_sessions_versioned_update_goes_with_the_next_trip(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with SqlUnitOfWork(engine) as tx:
        await tx.agent_sessions.add(session(9))
        await tx.commit()
    async with SqlUnitOfWork(engine) as tx:
        stored = await tx.agent_sessions.get(session(9).id)
        assert stored is not None
        trips.clear()
        stored.bind("agent-9")
        await tx.agent_sessions.save(stored)
        assert trips == [] and stored.version == 1
        assert await tx.agent_sessions.get(stored.id) == stored
        assert trips == ["_run_statement"]
        await tx.commit()
    async with SqlUnitOfWork(engine) as tx:
        assert await tx.agent_sessions.get(stored.id) == stored


async def test_a_stale_sessions_update_is_raised_by_the_commit_which_rolls_back(
    engine: AsyncEngine,
) -> None:
    async with SqlUnitOfWork(engine) as tx:
        await tx.agent_sessions.add(session(10))
        await tx.commit()
    async with SqlUnitOfWork(engine) as tx:
        mine = await tx.agent_sessions.get(session(10).id)
        theirs = await tx.agent_sessions.get(session(10).id)
    assert mine is not None and theirs is not None
    theirs.complete(T0 + timedelta(seconds=1))
    async with SqlUnitOfWork(engine) as tx:
        await tx.agent_sessions.save(theirs)
        await tx.commit()
    conversation, message, reply = exchange(10)
    mine.bind("agent-10")
    with pytest.raises(StaleAgentSession):
        async with SqlUnitOfWork(engine) as tx:
            await tx.messages.add_with_reply(conversation, message, reply, None)
            await tx.agent_sessions.save(mine)
            writing = await writing_of(tx)
            await tx.commit()
    assert not writing.held
    async with SqlUnitOfWork(engine) as tx:
        assert await tx.agent_sessions.get(theirs.id) == theirs
        assert await tx.messages.get(message.id) is None
