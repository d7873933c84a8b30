"""One contract for the storage ports, run against the SQL adapter on SQLite and PostgreSQL and
against the in-memory fake used by the use-case tests, so that the fake cannot drift."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.ports.dead_letters import DeadLetter
from application.ports.repositories import DuplicateIdempotencyKey
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.conversations import Conversation, Owner
from domain.messages import Message, MessageStatus
from tests.conftest import BACKENDS, empty_database
from tests.fakes.storage import FakeStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ALICE, BOB = Owner("acme", "alice"), Owner("acme", "bob")


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


async def add_conversation(uow: UnitOfWorkFactory, n: int, owner: Owner = ALICE, t: float = 0):
    conversation = Conversation.start(UUID(int=n), owner, f"c{n}", at(t))
    async with uow() as tx:
        await tx.conversations.add(conversation)
        await tx.commit()
    return conversation


async def add_messages(
    uow: UnitOfWorkFactory, conversation: Conversation, count: int, start: int = 1000
):
    made = []
    async with uow() as tx:
        for i in range(count):
            message = Message.from_user(UUID(int=start + i), conversation.id, f"m{i}", at(i))
            await tx.messages.add(message)
            made.append(message)
        await tx.commit()
    return made


async def test_nothing_is_kept_without_commit(uow: UnitOfWorkFactory) -> None:
    async with uow() as tx:
        await tx.conversations.add(Conversation.start(UUID(int=1), ALICE, None, T0))
    async with uow() as tx:
        assert await tx.conversations.get(UUID(int=1)) is None


async def test_a_failed_unit_of_work_rolls_back(uow: UnitOfWorkFactory) -> None:
    with pytest.raises(RuntimeError):
        async with uow() as tx:
            await tx.conversations.add(Conversation.start(UUID(int=1), ALICE, None, T0))
            raise RuntimeError
    async with uow() as tx:
        assert await tx.conversations.get(UUID(int=1)) is None


async def test_a_conversation_round_trips(uow: UnitOfWorkFactory) -> None:
    stored = await add_conversation(uow, 1)
    async with uow() as tx:
        found = await tx.conversations.get(stored.id)
    assert found == stored
    assert found.created_at.tzinfo is not None


async def test_conversations_list_per_owner_most_recent_first_with_a_cursor(
    uow: UnitOfWorkFactory,
) -> None:
    for n in range(1, 6):
        await add_conversation(uow, n, t=n)
    await add_conversation(uow, 9, owner=BOB, t=100)
    async with uow() as tx:
        first = await tx.conversations.list_for(ALICE, 2, None)
        second = await tx.conversations.list_for(ALICE, 2, first[-1].id)
        rest = await tx.conversations.list_for(ALICE, 10, second[-1].id)
    assert [c.id.int for c in first + second + rest] == [5, 4, 3, 2, 1]


async def test_messages_page_backwards_and_come_oldest_first(uow: UnitOfWorkFactory) -> None:
    conversation = await add_conversation(uow, 1)
    made = await add_messages(uow, conversation, 5)
    async with uow() as tx:
        newest = await tx.messages.page(conversation.id, 2, None)
        older = await tx.messages.page(conversation.id, 2, newest[0].id)
        oldest = await tx.messages.page(conversation.id, 2, older[0].id)
    assert [m.content for m in newest] == ["m3", "m4"]
    assert [m.content for m in older] == ["m1", "m2"]
    assert [m.content for m in oldest] == ["m0"]
    assert newest[-1] == made[-1]


async def test_an_idempotency_key_is_unique_within_its_conversation(uow: UnitOfWorkFactory) -> None:
    one, two = await add_conversation(uow, 1), await add_conversation(uow, 2)
    async with uow() as tx:
        await tx.messages.add(Message.from_user(UUID(int=10), one.id, "a", T0), "key")
        await tx.messages.add(Message.from_user(UUID(int=11), two.id, "a", T0), "key")
        await tx.commit()
    with pytest.raises(DuplicateIdempotencyKey):
        async with uow() as tx:
            await tx.messages.add(Message.from_user(UUID(int=12), one.id, "a", T0), "key")
            await tx.commit()
    async with uow() as tx:
        found = await tx.messages.by_idempotency_key(one.id, "key")
        assert found is not None and found.id == UUID(int=10)
        assert await tx.messages.get(UUID(int=12)) is None


async def test_a_message_and_its_reply_are_stored_together_under_the_key(
    uow: UnitOfWorkFactory,
) -> None:
    conversation, other = await add_conversation(uow, 1, t=1), await add_conversation(uow, 2, t=2)
    user = Message.from_user(UUID(int=20), conversation.id, "q", at(10))
    reply = Message.pending_reply(UUID(int=21), conversation.id, user.id, at(10), True)
    conversation.touch(at(10))
    async with uow() as tx:
        await tx.messages.add_with_reply(conversation, user, reply, "key")
        await tx.commit()
    again = Message.from_user(UUID(int=22), conversation.id, "q", at(11))
    late = replace(conversation, updated_at=at(11))
    with pytest.raises(DuplicateIdempotencyKey):
        async with uow() as tx:
            await tx.messages.add_with_reply(
                late,
                again,
                Message.pending_reply(UUID(int=23), conversation.id, again.id, T0),
                "key",
            )
            await tx.commit()
    async with uow() as tx:
        assert await tx.messages.by_idempotency_key(conversation.id, "key") == user
        assert await tx.messages.reply_to(user.id) == reply
        assert await tx.messages.get(UUID(int=22)) is None
        assert await tx.messages.get(UUID(int=23)) is None
        assert await tx.conversations.get(conversation.id) == conversation
        assert await tx.conversations.get(other.id) == other
        assert [c.id.int for c in await tx.conversations.list_for(ALICE, 5, None)] == [1, 2]


async def test_a_reply_is_found_from_its_user_message(uow: UnitOfWorkFactory) -> None:
    conversation = await add_conversation(uow, 1)
    [user] = await add_messages(uow, conversation, 1)
    reply = Message.pending_reply(UUID(int=2000), conversation.id, user.id, at(1))
    async with uow() as tx:
        await tx.messages.add(reply)
        await tx.commit()
    async with uow() as tx:
        assert await tx.messages.reply_to(user.id) == reply
        assert [m.id for m in await tx.messages.streaming()] == [reply.id]


async def test_progress_writes_content_status_and_never_lowers_the_seq(
    uow: UnitOfWorkFactory,
) -> None:
    conversation = await add_conversation(uow, 1)
    [user] = await add_messages(uow, conversation, 1)
    reply = Message.pending_reply(UUID(int=2000), conversation.id, user.id, T0)
    async with uow() as tx:
        await tx.messages.add(reply)
        await tx.commit()
    reply.append("done")
    reply.complete()
    reply.event_seq = 9
    async with uow() as tx:
        await tx.messages.save_progress(reply)
        await tx.messages.record_event_seqs({reply.id: 12})
        await tx.messages.record_event_seqs({reply.id: 4})
        await tx.commit()
    async with uow() as tx:
        stored = await tx.messages.get(reply.id)
        assert (stored.content, stored.status, stored.event_seq) == (
            "done",
            MessageStatus.COMPLETE,
            12,
        )
        assert await tx.messages.streaming() == []


async def test_seq_queries_find_the_floor_and_what_changed(uow: UnitOfWorkFactory) -> None:
    conversation = await add_conversation(uow, 1)
    made = await add_messages(uow, conversation, 4)
    async with uow() as tx:
        assert await tx.messages.max_event_seq(conversation.id) == 0
        await tx.messages.record_event_seqs(
            {m.id: seq for m, seq in zip(made, [3, 9, 5, 7], strict=True)}
        )
        await tx.commit()
    async with uow() as tx:
        assert await tx.messages.max_event_seq(conversation.id) == 9
        changed = await tx.messages.changed_since(conversation.id, 4)
    assert [m.event_seq for m in changed] == [5, 7, 9]


async def test_a_conversation_is_read_with_its_event_floor(uow: UnitOfWorkFactory) -> None:
    conversation, other = await add_conversation(uow, 1), await add_conversation(uow, 2)
    made = await add_messages(uow, conversation, 2)
    [theirs, _] = await add_messages(uow, other, 2, start=2000)
    async with uow() as tx:
        assert await tx.conversations.get_with_event_floor(conversation.id) == (conversation, 0)
        await tx.messages.record_event_seqs({made[0].id: 4, made[1].id: 6, theirs.id: 9})
        await tx.commit()
    async with uow() as tx:
        assert await tx.conversations.get_with_event_floor(conversation.id) == (conversation, 6)
        assert await tx.conversations.get_with_event_floor(other.id) == (other, 9)
        assert await tx.conversations.get_with_event_floor(UUID(int=99)) is None


async def test_latest_gives_the_newest_complete_messages_oldest_first(
    uow: UnitOfWorkFactory,
) -> None:
    conversation = await add_conversation(uow, 1)
    await add_messages(uow, conversation, 5)
    failed = Message.pending_reply(UUID(int=3000), conversation.id, UUID(int=1000), at(10))
    failed.fail()
    async with uow() as tx:
        await tx.messages.add(failed)
        await tx.commit()
    async with uow() as tx:
        assert [m.content for m in await tx.messages.latest(conversation.id, 3)] == [
            "m2",
            "m3",
            "m4",
        ]


async def test_agent_metadata_of_a_reply_round_trips(uow: UnitOfWorkFactory) -> None:
    conversation = await add_conversation(uow, 1)
    [user] = await add_messages(uow, conversation, 1)
    reply = Message.pending_reply(UUID(int=2000), conversation.id, user.id, T0, by_agent=True)
    async with uow() as tx:
        await tx.messages.add(reply)
        await tx.commit()
    assert reply.agent is not None
    reply.agent.session_id = UUID(int=77)
    reply.agent.tool_started("c1", "search")
    reply.agent.tool_finished("c1", "search", ok=False, duration_ms=120)
    reply.agent.question_id = "q-1"
    async with uow() as tx:
        await tx.messages.save_progress(reply)
        await tx.commit()
    async with uow() as tx:
        stored = await tx.messages.get(reply.id)
        plain = await tx.messages.get(user.id)
    assert stored.agent == reply.agent
    assert plain.agent is None


async def test_dead_letters_are_kept_newest_first(uow: UnitOfWorkFactory) -> None:
    conversation = await add_conversation(uow, 1)
    letters = [
        DeadLetter(
            id=UUID(int=900 + n),
            conversation_id=conversation.id,
            error_kind="agent_error",
            error_code="tool_failed",
            error_message=f"failure {n}",
            retryable=n % 2 == 0,
            created_at=at(n),
            request={"profile_name": "default", "input": "search x", "history_turns": 3},
        )
        for n in range(3)
    ]
    async with uow() as tx:
        for letter in letters:
            await tx.dead_letters.add(letter)
        await tx.commit()
    async with uow() as tx:
        assert list(await tx.dead_letters.recent(2)) == letters[:0:-1]
