"""The SQLite adapter that makes one trip to aiosqlite's thread per statement: what SQLAlchemy
reads of a statement (rows, description, counts, errors) is all there after that one trip."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.sqlite_one_trip import OneTripConnection


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'one-trip.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


async def test_the_engine_uses_the_one_trip_adapter(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection, OneTripConnection)


async def test_a_query_is_one_trip_with_its_rows_and_columns(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO t (name) VALUES ('a'), ('b')"))
        trips.clear()
        result = await connection.execute(text("SELECT id, name FROM t ORDER BY id"))
        assert trips == ["_run_statement"]
        assert list(result.keys()) == ["id", "name"]
        assert [tuple(row) for row in result] == [(1, "a"), (2, "b")]


async def test_writes_report_their_counts_and_the_row_id(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert inserted.lastrowid == 1
        many = await connection.execute(
            text("INSERT INTO t (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}]
        )
        assert many.rowcount == 2
        updated = await connection.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
        assert updated.rowcount == 2
        none = await connection.execute(text("UPDATE t SET name = 'x' WHERE id = 99"))
        assert none.rowcount == 0


async def test_an_error_is_sqlalchemys_and_the_transaction_rolls_back(engine: AsyncEngine) -> None:
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
            await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
    async with engine.connect() as connection:
        count = await connection.execute(text("SELECT count(*) FROM t"))
        assert count.scalar_one() == 0


async def test_returning_gives_its_rows(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        result = await connection.execute(
            text("INSERT INTO t (name) VALUES ('a'), ('b') RETURNING id, name")
        )
        assert sorted(tuple(row) for row in result) == [(1, "a"), (2, "b")]


async def test_a_connection_taken_back_after_its_commit_makes_no_trip(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
    assert trips == ["_run_statement", "_commit"]


async def test_a_transaction_begins_with_its_first_statement_in_one_trip(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.connect() as connection:
        await connection.begin()
        assert trips == []
        await connection.execute(text("SELECT count(*) FROM t"))
        assert trips == ["_run_statement"]
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw._conn.in_transaction  # a read alone opens none: BEGIN IMMEDIATE ran
        await connection.rollback()
    assert not raw._conn.in_transaction


async def test_a_transaction_with_no_statement_ends_without_a_trip(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.begin():
        pass
    assert trips == []


async def test_a_connection_closed_in_its_transaction_is_rolled_back(
    engine: AsyncEngine, trips: list[str]
) -> None:
    connection = await engine.connect()
    await connection.begin()
    await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
    await connection.close()
    assert trips.count("_rollback") == 1
    async with engine.connect() as connection:
        count = await connection.execute(text("SELECT count(*) FROM t"))
        assert count.scalar_one() == 0
