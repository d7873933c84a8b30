"""One contract for `EventSeqStore`, where `EventSeqs` stores which live event each message
reflects: on PostgreSQL one statement in autocommit (`PostgresEventSeqStore`), on SQLite one
trip to the connection's thread (`SqliteEventSeqStore`), on the fake a transaction through
the message repository (`SeqsInTransaction`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest

from adapters.sql.engine import create_engine
from adapters.sql.event_seqs import PostgresEventSeqStore
from adapters.sql.sqlite_event_seqs import SqliteEventSeqStore
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.event_seqs import SeqsInTransaction
from application.ports.event_seq_store import EventSeqStore
from application.ports.unit_of_work import UnitOfWorkFactory
from entrypoints.database import upgrade
from tests.conftest import BACKENDS, empty_database
from tests.fakes.storage import FakeStore
from tests.integration.test_repositories import add_conversation, add_messages


@dataclass
class Storage:
    uow: UnitOfWorkFactory
    seqs: EventSeqStore


@pytest.fixture(params=["fake", *BACKENDS])
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    if request.param == "fake":
        uow = FakeStore().uow
        yield Storage(uow, SeqsInTransaction(uow))
        return
    engine = create_engine(await empty_database(request, request.param, tmp_path))
    uow = lambda: SqlUnitOfWork(engine)  # noqa: E731
    if request.param == "postgres":
        yield Storage(uow, PostgresEventSeqStore(engine))
    else:
        yield Storage(uow, SqliteEventSeqStore(engine))
    await engine.dispose()


async def seqs_of(storage: Storage, *ids: UUID) -> list[int]:
    async with storage.uow() as tx:
        found = [await tx.messages.get(id) for id in ids]
    return [message.event_seq for message in found if message is not None]


async def test_seqs_are_raised_never_lowered_and_other_messages_left(storage: Storage) -> None:
    conversation = await add_conversation(storage.uow, 1)
    first, second, third = await add_messages(storage.uow, conversation, 3)
    await storage.seqs.record({first.id: 7, second.id: 3})
    await storage.seqs.record({first.id: 5, second.id: 4})
    assert await seqs_of(storage, first.id, second.id, third.id) == [7, 4, 0]


async def test_a_message_that_is_not_stored_is_passed_over(storage: Storage) -> None:
    conversation = await add_conversation(storage.uow, 1)
    [stored] = await add_messages(storage.uow, conversation, 1)
    await storage.seqs.record({UUID(int=99): 5, stored.id: 2})
    assert await seqs_of(storage, stored.id) == [2]


async def test_the_seqs_of_many_messages_go_together(storage: Storage) -> None:
    conversation = await add_conversation(storage.uow, 1)
    made = await add_messages(storage.uow, conversation, 40)
    await storage.seqs.record({m.id: n for n, m in enumerate(made, start=1)})
    assert await seqs_of(storage, *(m.id for m in made)) == list(range(1, 41))


async def test_seqs_on_sqlite_are_one_trip_to_its_thread(tmp_path: Path, trips: list[str]) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'seqs.db'}")
    await upgrade(str(engine.url))
    storage = Storage(lambda: SqlUnitOfWork(engine), SqliteEventSeqStore(engine))
    conversation = await add_conversation(storage.uow, 1)
    made = await add_messages(storage.uow, conversation, 3)
    trips.clear()

    await storage.seqs.record({m.id: n for n, m in enumerate(made, start=1)})

    assert trips == ["_in_transaction"]
    assert await seqs_of(storage, *(m.id for m in made)) == [1, 2, 3]
    await engine.dispose()
