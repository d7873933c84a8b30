"""Hot SQLite writes as one function on the connection's thread: one trip per transaction.

A write through SQLAlchemy is a trip to aiosqlite's thread for each statement and one for
COMMIT (architecture/0020), and SQLAlchemy binds every row on the loop. The writes that run
all the time (the group writes of streaming replies, the seqs of announced messages) instead
bind their rows on the loop with the columns' own SQLAlchemy bind processors, so the stored
values are what the repositories write and read, and run their whole transaction in one
function on the thread, in as few sqlite3 calls as they can. Writes inside a unit of work
whose answer nothing waits for (a message's exchange, a new session) go with the
transaction's next trip instead of one of their own (`with_next_trip`).

Relies on the private names `sqlite_one_trip` does (`Connection._execute`, `_conn`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.connections import WRITE_LOCK_NOT_FREE, checkout, write_lock_not_free
from adapters.sql.sqlite_one_trip import OneTripConnection, Writing, write_and_commit
from application.ports.unit_of_work import StorageBusy

T = TypeVar("T")
Row = tuple[Any, ...]
Processors = Sequence[Callable[[Any], Any] | None]

ROWS_PER_STATEMENT = 32
"""Rows of values in one statement, at most. Each row count is a statement of its own, which
sqlite3 prepares and keeps in every pooled connection's statement cache: with up to a
thousand rows to a statement, the big groups of 1,000 streams left tens of megabytes of
prepared statements (122.6 KiB per session at 1,000 streams, against 90-92 before these
writes; 94-98 with this bound). Statements come in powers of two up to this (`update_rows`
pads), six sizes of each."""


@lru_cache(maxsize=32)
def processors(table: Table, names: tuple[str, ...], dialect: Dialect) -> Processors:
    """Each named column's SQLAlchemy bind processor for `dialect` (None: stored as given),
    looked up once per table, columns and dialect."""
    return [table.c[name].type.bind_processor(dialect) for name in names]


@lru_cache(maxsize=8)
def insert_sql(table: str, columns: tuple[str, ...]) -> str:
    """An INSERT of one row of `columns` into `table`, every value a parameter."""
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608


def bound(values: Row, processors: Processors) -> Row:
    """`values`, each through its column's processor: what SQLAlchemy would store."""
    return tuple(
        value if process is None else process(value)
        for value, process in zip(values, processors, strict=True)
    )


def values_update(
    table: str, columns: Sequence[str], assignments: str, where: str
) -> Callable[[int], str]:
    """The SQL of an UPDATE of `table` from `count` rows of `columns` given as parameters
    (the rows are `v`), as a function of `count` that builds each once. `where` must match
    no row of `v` whose `id` is NULL: `update_rows` pads with those."""
    names = ", ".join(columns)
    row = "(" + ", ".join("?" * len(columns)) + ")"

    @lru_cache(maxsize=8)
    def sql(count: int) -> str:
        # Only the tables' own names are spliced in; every value is a parameter.
        return (
            f"WITH v({names}) AS (VALUES {', '.join([row] * count)}) "  # noqa: S608
            f"UPDATE {table} SET {assignments} FROM v WHERE {where}"
        )

    return sql


def update_rows(
    database: sqlite3.Connection, sql: Callable[[int], str], rows: Sequence[Row]
) -> int:
    """On the connection's thread: `rows` through `sql`, a statement per
    `ROWS_PER_STATEMENT` rows, each padded with rows of NULLs to a power of two. Returns the
    rows changed (sqlite3 leaves `rowcount` at -1 after a statement that starts with WITH)."""
    before = database.total_changes
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        size = 1 << (len(chunk) - 1).bit_length()
        values = [value for row in chunk for value in row]
        values += [None] * (len(chunk[0]) * (size - len(chunk)))
        database.execute(sql(size), values)
    return database.total_changes - before


async def in_one_trip(engine: AsyncEngine, write: Callable[..., T], *args: Any) -> T:
    """`write(database, *args)` in a transaction of its own (the writer lock, BEGIN IMMEDIATE …
    COMMIT, rolled back if it raises, the lock given back) on a pooled connection's thread, in
    one trip. StorageBusy, as from a unit of work, when no connection or no turn at the write
    lock comes free in time."""
    connection = await checkout(engine)
    try:
        adapted, raw = await _adapted(connection)
        try:
            return await raw._execute(_in_transaction, raw, adapted.writing, write, args)
        except sqlite3.OperationalError as error:
            if write_lock_not_free(error):
                raise StorageBusy(WRITE_LOCK_NOT_FREE) from error
            raise
    finally:
        await connection.close()


async def with_next_trip(
    connection: AsyncConnection, write: Callable[..., None], *args: Any
) -> None:
    """`write(database, *args)` in the transaction open on `connection`, on its thread, in the
    transaction's next trip there: before its next statement, or with its COMMIT (after the
    writer lock and `BEGIN IMMEDIATE` if nothing began it yet). Writes that need no answer
    thus cost no trip of their own while the write lock is held; what `write` raises is
    raised by that statement or by the commit, and a rollback drops it."""
    adapted, _ = await _adapted(connection)
    adapted.defer(write, args)


async def _adapted(
    connection: AsyncConnection,
) -> tuple[OneTripConnection, aiosqlite.Connection]:
    """The connection's one-trip DBAPI connection and the aiosqlite connection under it."""
    pooled = await connection.get_raw_connection()
    adapted: OneTripConnection = pooled.dbapi_connection  # type: ignore[assignment]
    return adapted, pooled.driver_connection


def _in_transaction(
    connection: aiosqlite.Connection,
    writing: Writing,
    write: Callable[..., T],
    args: tuple[Any, ...],
) -> T:
    """On the thread: `write(database, *args)` in a write transaction of its own."""
    return write_and_commit(connection._conn, writing, writing, lambda db: write(db, *args))
