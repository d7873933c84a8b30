"""On SQLite a user's message, its reply and its conversation's activity are stored in one
trip to the connection's thread, in the unit of work's transaction (`sqlite_exchange`); what
they store is the repositories' contract (test_repositories)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.sqlite_one_trip import OneTripConnection
from adapters.sql.unit_of_work import SqlUnitOfWork
from domain.conversations import Conversation, Owner
from domain.messages import Message

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
async def engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url)
    conversation = Conversation.start(UUID(int=1), Owner("acme", "alice"), "c", T0)
    async with SqlUnitOfWork(engine) as tx:
        await tx.conversations.add(conversation)
        await tx.commit()
    yield engine
    await engine.dispose()


def exchange(n: int) -> tuple[Conversation, Message, Message]:
    now = T0 + timedelta(seconds=n)
    conversation = Conversation(UUID(int=1), Owner("acme", "alice"), "c", T0, now)
    message = Message.from_user(UUID(int=10 * n), conversation.id, f"q{n}", now)
    reply = Message.pending_reply(UUID(int=10 * n + 1), conversation.id, message.id, now, True)
    return conversation, message, reply


async def test_a_message_with_its_reply_and_activity_is_one_trip_in_the_transaction(
    engine: AsyncEngine, trips: list[str]
) -> None:
    conversation, message, reply = exchange(1)
    async with SqlUnitOfWork(engine) as tx:
        await tx.conversations.get(conversation.id)
        trips.clear()
        await tx.messages.add_with_reply(conversation, message, reply, "key")
        assert trips == ["_in_open_transaction"]
        await tx.commit()
    async with SqlUnitOfWork(engine) as tx:
        assert await tx.messages.get(message.id) == message
        assert await tx.messages.reply_to(message.id) == reply
        assert await tx.conversations.get(conversation.id) == conversation


async def test_as_a_transactions_first_statement_it_takes_the_writer_lock_and_begins(
    engine: AsyncEngine,
) -> None:
    conversation, message, reply = exchange(2)
    async with SqlUnitOfWork(engine) as tx:
        await tx.messages.add_with_reply(conversation, message, reply, None)
        raw = await tx.messages._connection.get_raw_connection()
        adapted: OneTripConnection = raw.dbapi_connection  # type: ignore[assignment]
        assert adapted.writing.held
        # rolled back on leaving uncommitted: the BEGIN went with it
    async with SqlUnitOfWork(engine) as tx:
        assert await tx.messages.get(message.id) is None
        stored = await tx.conversations.get(conversation.id)
        assert stored is not None and stored.updated_at == T0
    assert not adapted.writing.held
