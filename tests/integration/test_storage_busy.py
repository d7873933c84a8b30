"""A unit of work that gets no database connection in time says so as StorageBusy (the
service answers 503), on both backends; on SQLite so do a unit of work and a one-trip write
that wait too long for the write lock."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.sql.engine import create_engine
from adapters.sql.sqlite_thread import in_one_trip
from adapters.sql.unit_of_work import SqlUnitOfWork
from application.ports.unit_of_work import StorageBusy
from domain.conversations import Conversation, Owner
from tests.conftest import BACKENDS, empty_database

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_unit_of_work_with_no_connection_free_in_time_is_storage_busy(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    url = await empty_database(request, backend, tmp_path)
    engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        async with SqlUnitOfWork(engine):
            with pytest.raises(StorageBusy):
                async with SqlUnitOfWork(engine):
                    pass
        async with SqlUnitOfWork(engine) as uow:  # the pool serves again once one is free
            assert await uow.conversations.get(uuid4()) is None
    finally:
        await engine.dispose()


async def test_a_transaction_that_waits_too_long_for_sqlites_write_lock_is_storage_busy(
    sqlite_url: str,
) -> None:
    """Another writer holds the lock past the busy timeout (0 here): nothing was done."""
    holder, impatient = create_engine(sqlite_url), _impatient_engine(sqlite_url)
    conversation = Conversation.start(uuid4(), Owner("alice", "acme"), "held", NOW)
    try:
        async with SqlUnitOfWork(holder) as holding:
            await holding.conversations.add(conversation)
            with pytest.raises(StorageBusy, match="write lock"):
                async with SqlUnitOfWork(impatient) as uow:
                    await uow.conversations.add(replace(conversation, id=uuid4()))
                    await uow.commit()
            await holding.commit()
        async with SqlUnitOfWork(impatient) as uow:  # served again once the lock is free
            assert await uow.conversations.get(conversation.id) == conversation
    finally:
        await holder.dispose()
        await impatient.dispose()


async def test_a_one_trip_write_that_waits_too_long_for_sqlites_write_lock_is_storage_busy(
    sqlite_url: str,
) -> None:
    holder, impatient = create_engine(sqlite_url), _impatient_engine(sqlite_url)

    def rename(database: sqlite3.Connection, title: str) -> int:
        return database.execute("UPDATE conversations SET title = ?", (title,)).rowcount

    conversation = Conversation.start(uuid4(), Owner("alice", "acme"), "held", NOW)
    try:
        async with SqlUnitOfWork(holder) as holding:
            await holding.conversations.add(conversation)
            with pytest.raises(StorageBusy, match="write lock"):
                await in_one_trip(impatient, rename, "never")
            await holding.commit()
        assert await in_one_trip(impatient, rename, "renamed") == 1  # served once it is free
    finally:
        await holder.dispose()
        await impatient.dispose()


def _impatient_engine(url: str) -> AsyncEngine:
    """An engine of its own (its own writer lock, as another process has) whose connections
    do not wait for SQLite's write lock at all."""
    engine = create_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _no_waiting(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()

    return engine
