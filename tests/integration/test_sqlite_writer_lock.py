"""SQLite's write lock taken in the process first: the writers of one engine wait for it on
their connections' threads, not in SQLite's polling busy handler, and the lock is given back
however a transaction ends."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.sqlite_one_trip import WriterLock
from adapters.sql.sqlite_thread import in_one_trip

WRITERS = 40


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """SQLite waits for no lock here (busy timeout 0): a writer that reached SQLite while
    another held the lock would fail at once with `database is locked`."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}")

    @event.listens_for(engine.sync_engine, "connect")
    def _no_waiting_in_sqlite(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()

    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


async def names(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        return list((await connection.execute(text("SELECT name FROM t ORDER BY id"))).scalars())


async def test_concurrent_write_transactions_queue_in_the_process(engine: AsyncEngine) -> None:
    async def write(number: int) -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (name) VALUES (:n)"), {"n": f"{number}"})
            await asyncio.sleep(0.001)  # the lock held across an await, as a unit of work does
            await connection.execute(text("SELECT count(*) FROM t"))

    def write_in_one_trip(database: sqlite3.Connection, number: int) -> None:
        database.execute("INSERT INTO t (name) VALUES (?)", (f"trip {number}",))

    await asyncio.gather(
        *(write(number) for number in range(WRITERS)),
        *(in_one_trip(engine, write_in_one_trip, number) for number in range(WRITERS)),
    )

    assert len(await names(engine)) == 2 * WRITERS


async def test_the_lock_comes_back_after_a_failed_statement_and_a_rollback(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (name) VALUES ('taken')"))

    async def duplicate() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (name) VALUES ('taken')"))

    async def rolled_back() -> None:
        async with engine.connect() as connection:
            await connection.begin()
            await connection.execute(text("INSERT INTO t (name) VALUES ('undone')"))
            await connection.rollback()

    def failing_trip(database: sqlite3.Connection) -> None:
        database.execute("INSERT INTO t (name) VALUES ('taken')")

    async with asyncio.timeout(5):  # a lock never given back would hang the next writer
        for _ in range(3):
            with pytest.raises(IntegrityError):
                await duplicate()
            await rolled_back()
            with pytest.raises(sqlite3.IntegrityError):
                await in_one_trip(engine, failing_trip)
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (name) VALUES ('after')"))

    assert await names(engine) == ["taken", "after"]


async def test_the_lock_comes_back_when_a_writing_task_is_cancelled(engine: AsyncEngine) -> None:
    holding = asyncio.Event()

    async def hold() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (name) VALUES ('cancelled')"))
            holding.set()
            await asyncio.sleep(60)

    holder = asyncio.create_task(hold())
    await holding.wait()
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder

    async with asyncio.timeout(5):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (name) VALUES ('next')"))
    assert await names(engine) == ["next"]


async def test_the_lock_comes_back_when_a_writing_connection_is_invalidated(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        await connection.begin()
        await connection.execute(text("INSERT INTO t (name) VALUES ('lost')"))
        await connection.invalidate()

    async with asyncio.timeout(5):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (name) VALUES ('next')"))
    assert await names(engine) == ["next"]


def test_a_writer_waiting_longer_than_the_busy_timeout_is_told_the_database_is_locked() -> None:
    lock = WriterLock(timeout_s=0.05)
    lock.acquire()

    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        lock.acquire()

    lock.release()
    lock.acquire()
