"""One contract for `ReplyProgress`, the group write of streaming agent replies: on
PostgreSQL one statement (`PostgresReplyProgress`), on SQLite one transaction in one trip to
aiosqlite's thread (`SqliteReplyProgress`), on the in-memory fake one transaction through the
repositories (`ProgressInTransaction`)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from uuid import UUID

import pytest
from sqlalchemy.exc import DBAPIError

from adapters.sql import sqlite_thread
from adapters.sql.engine import create_engine
from adapters.sql.reply_progress import PostgresReplyProgress
from adapters.sql.sqlite_reply_progress import SqliteReplyProgress
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.ports.reply_progress import ReplyProgress
from application.ports.unit_of_work import UnitOfWorkFactory
from application.reply_writes import ProgressInTransaction
from domain.agent_sessions import AgentSession
from domain.messages import Message, MessageStatus
from entrypoints.database import upgrade
from tests.conftest import BACKENDS, empty_database
from tests.fakes.storage import FakeStore
from tests.integration.test_delegation_repositories import at, running_turns


@dataclass
class Storage:
    uow: UnitOfWorkFactory
    progress: ReplyProgress


@pytest.fixture(params=["fake", *BACKENDS])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "fake":
        uow = FakeStore().uow
        yield Storage(uow, ProgressInTransaction(uow))
        return
    engine = create_engine(await empty_database(request, request.param, tmp_path))
    uow = lambda: SqlUnitOfWork(engine)  # noqa: E731
    if request.param == "postgres":
        yield Storage(uow, PostgresReplyProgress(engine))
    else:
        yield Storage(uow, SqliteReplyProgress(engine))
    await engine.dispose()


async def streaming(storage: Storage, count: int) -> list[tuple[AgentSession, Message]]:
    """`count` sessions running turns, each with its stored streaming reply."""
    sessions = await running_turns(storage.uow, count)
    replies = []
    async with storage.uow() as tx:
        for n, session in enumerate(sessions, start=1):
            asked = Message.from_user(UUID(int=400 + n), session.conversation_id, "q", at(n))
            reply = Message.pending_reply(
                UUID(int=500 + n), session.conversation_id, asked.id, at(n), True
            )
            await tx.messages.add(asked)
            await tx.messages.add(reply)
            replies.append(reply)
        await tx.commit()
    return list(zip(sessions, replies, strict=True))


async def stored(storage: Storage, session: AgentSession, reply: Message) -> tuple:
    async with storage.uow() as tx:
        return await tx.agent_sessions.get(session.id), await tx.messages.get(reply.id)


async def saved_by_somebody_else(storage: Storage, session: AgentSession) -> AgentSession:
    """The session as another writer leaves it (its turn ended) after `session` was read."""
    async with storage.uow() as tx:
        theirs = await tx.agent_sessions.get(session.id)
        assert theirs is not None
        theirs.end_turn(at(35))
        await tx.agent_sessions.save(theirs)
        await tx.commit()
    return theirs


async def test_current_sessions_are_stored_with_their_replies_and_stale_ones_left(
    storage: Storage,
) -> None:
    turns = await streaming(storage, 3)
    theirs = await saved_by_somebody_else(storage, turns[1][0])
    for n, (session, reply) in enumerate(turns, start=1):
        session.record_event(10 * n, at(40 + n))
        session.renew_lease(at(100 + n))
        reply.append(f"answer {n}")
        reply.event_seq = n
    versions = [session.version for session, _ in turns]

    stale = await storage.progress.save(turns)

    assert stale == {turns[1][0].id}
    assert [s.version for s, _ in turns] == [versions[0] + 1, versions[1], versions[2] + 1]
    for index in (0, 2):
        session, reply = await stored(storage, *turns[index])
        assert session == turns[index][0] and reply == turns[index][1]
    untouched_session, untouched_reply = await stored(storage, *turns[1])
    assert untouched_session == theirs
    assert (untouched_reply.content, untouched_reply.event_seq) == ("", 0)


async def test_a_turn_ending_is_stored_with_its_complete_reply(storage: Storage) -> None:
    [(session, reply)] = await streaming(storage, 1)
    session.record_event(9, at(41))
    session.end_turn(at(42))
    reply.append("done")
    reply.event_seq = 7
    reply.complete()

    assert await storage.progress.save([(session, reply)]) == set()

    kept_session, kept_reply = await stored(storage, session, reply)
    assert kept_session == session and not kept_session.turn_running
    assert (kept_reply.content, kept_reply.status) == ("done", MessageStatus.COMPLETE)


async def test_a_group_write_never_lowers_a_seq_and_keeps_agent_data(storage: Storage) -> None:
    [(first, first_reply), (second, second_reply)] = await streaming(storage, 2)
    async with storage.uow() as tx:
        await tx.messages.record_event_seqs({first_reply.id: 9, second_reply.id: 9})
        await tx.commit()
    first_reply.append("older view")
    first_reply.event_seq = 4
    second_reply.append("newer")
    second_reply.event_seq = 12
    assert second_reply.agent is not None
    second_reply.agent.tool_started("call-1", "search")

    await storage.progress.save([(first, first_reply), (second, second_reply)])

    _, kept_first = await stored(storage, first, first_reply)
    _, kept_second = await stored(storage, second, second_reply)
    assert (kept_first.content, kept_first.event_seq) == ("older view", 9)
    assert (kept_second.content, kept_second.event_seq) == ("newer", 12)
    assert kept_second.agent == second_reply.agent


@pytest.mark.postgres
async def test_a_statement_that_fails_on_postgresql_stores_nothing(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The sessions' update runs before the replies' in the one statement: a reply failing
    (a status too long for its column) leaves the sessions as they were too."""
    engine = create_engine(await empty_database(request, "postgres", tmp_path))
    storage = Storage(lambda: SqlUnitOfWork(engine), PostgresReplyProgress(engine))
    turns = await streaming(storage, 2)
    for session, reply in turns:
        session.record_event(5, at(50))
        reply.append("text")
    turns[1][1].status = SimpleNamespace(value="x" * 40)  # type: ignore[assignment]
    versions = [session.version for session, _ in turns]

    with pytest.raises(DBAPIError, match="too long"):
        await storage.progress.save(turns)

    assert [session.version for session, _ in turns] == versions
    for session, reply in turns:
        kept_session, kept_reply = await stored(storage, session, reply)
        assert (kept_session.last_event_id, kept_reply.content) == (0, "")
    await engine.dispose()


@pytest.fixture
async def on_sqlite(tmp_path: Path) -> AsyncIterator[Storage]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'progress.db'}")
    await upgrade(str(engine.url))
    yield Storage(lambda: SqlUnitOfWork(engine), SqliteReplyProgress(engine))
    await engine.dispose()


async def test_a_group_write_on_sqlite_is_one_trip_to_its_thread(
    on_sqlite: Storage, trips: list[str]
) -> None:
    turns = await streaming(on_sqlite, 20)
    for n, (session, reply) in enumerate(turns, start=1):
        session.record_event(n, at(40 + n))
        reply.append(f"answer {n}")
    trips.clear()

    assert await on_sqlite.progress.save(turns) == set()

    assert trips == ["_in_transaction"]
    for session, reply in turns:
        assert await stored(on_sqlite, session, reply) == (session, reply)


async def test_a_write_that_fails_on_sqlite_stores_nothing_and_the_next_one_works(
    on_sqlite: Storage,
) -> None:
    turns = await streaming(on_sqlite, 2)
    for session, reply in turns:
        session.record_event(5, at(50))
        reply.append("text")
    turns[1][1].content = None  # type: ignore[assignment]
    versions = [session.version for session, _ in turns]

    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        await on_sqlite.progress.save(turns)

    assert [session.version for session, _ in turns] == versions
    for session, reply in turns:
        kept_session, kept_reply = await stored(on_sqlite, session, reply)
        assert (kept_session.last_event_id, kept_reply.content) == (0, "")
    turns[1][1].content = "text"
    assert await on_sqlite.progress.save(turns) == set()
    assert (await stored(on_sqlite, *turns[1]))[1].content == "text"


async def test_a_large_group_on_sqlite_is_written_in_several_statements(
    on_sqlite: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_thread, "ROWS_PER_STATEMENT", 2)
    turns = await streaming(on_sqlite, 5)
    theirs = await saved_by_somebody_else(on_sqlite, turns[3][0])
    for n, (session, reply) in enumerate(turns, start=1):
        session.record_event(n, at(40 + n))
        reply.append(f"answer {n}")

    assert await on_sqlite.progress.save(turns) == {turns[3][0].id}

    for index, (session, reply) in enumerate(turns):
        kept_session, kept_reply = await stored(on_sqlite, session, reply)
        if index == 3:
            assert kept_session == theirs and kept_reply.content == ""
        else:
            assert (kept_session, kept_reply) == (session, reply)


async def test_binding_a_group_on_sqlite_lets_the_event_loop_run_between_rows(
    on_sqlite: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    turns = await streaming(on_sqlite, 20)
    happened: list[str] = []
    bind = SqliteReplyProgress._reply_row

    def bound(self: SqliteReplyProgress, reply: Message) -> tuple:
        happened.append("row")
        return bind(self, reply)

    async def ticking() -> None:
        while True:
            happened.append("tick")
            await asyncio.sleep(0)

    monkeypatch.setattr(SqliteReplyProgress, "_reply_row", bound)
    ticker = asyncio.create_task(ticking())
    await on_sqlite.progress.save(turns)
    ticker.cancel()

    rows = [n for n, what in enumerate(happened) if what == "row"]
    assert len(rows) == 20 and "tick" in happened[rows[0] : rows[-1]]
