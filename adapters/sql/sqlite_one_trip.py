"""SQLite through aiosqlite with one trip to its thread per statement.

aiosqlite runs every sqlite3 call on a thread of its own, and SQLAlchemy's adapter makes four
calls per statement (open a cursor, execute, fetch, close), each a trip to that thread and
back: a wake-up of the thread, the GIL handed over twice and the loop woken through its
self-pipe. On this project's machines a trip costs about 90 µs of CPU, so a trivial statement
cost 520 µs where doing the four calls in one trip costs 105 (docs/performance.md). This
adapter keeps SQLAlchemy's, replacing only its cursor with one that makes the whole statement
one trip and keeps the results.

It relies on two private names of aiosqlite (`Connection._execute`, which queues a function for
the connection's thread, and `Connection._conn`, the sqlite3 connection there), hence the
upper bound on aiosqlite in pyproject.toml; and on the shape of SQLAlchemy's asyncio adapter,
which `module=` hands our DBAPI to (a documented parameter of `create_engine`).
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Sequence
from typing import Any, NamedTuple

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_


class _Outcome(NamedTuple):
    description: Any
    rowcount: int
    lastrowid: int | None
    rows: Sequence[Any]


def _run_statement(
    connection: aiosqlite.Connection, operation: str, parameters: Any, many: bool, begin: bool
) -> _Outcome:
    """On the connection's thread: the statement and everything SQLAlchemy reads of it, after
    `BEGIN IMMEDIATE` when it is its transaction's first."""
    if begin:
        connection._conn.execute("BEGIN IMMEDIATE")
    cursor = connection._conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else ()
        return _Outcome(cursor.description, cursor.rowcount, cursor.lastrowid, rows)
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """Holds no sqlite3 cursor between statements: each runs, is fetched and closed in one
    trip, and its rows, description and counts are kept here for SQLAlchemy to read."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._run(operation, () if parameters is None else parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        self._run(operation, seq_of_parameters, many=True)

    def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        connection, begin = self._connection, self._adapt_connection.take_begin()
        try:
            outcome = await_(
                connection._execute(_run_statement, connection, operation, parameters, many, begin)
            )
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = deque(rows)

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()

    def nextset(self) -> None:
        return None

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """Begins a transaction with its first statement, in that statement's trip
    (`begin_with_next_statement`), and makes no trip to end a transaction that is not open."""

    __slots__ = ("_begin_pending",)

    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: aiosqlite.Connection) -> None:
        super().__init__(dbapi, connection)
        self._begin_pending = False

    def begin_with_next_statement(self) -> None:
        """`BEGIN IMMEDIATE` runs on the thread just before the next statement, one trip for
        both; nothing happens on the connection in between, so the write lock is taken as if
        at once."""
        self._begin_pending = True

    def take_begin(self) -> bool:
        begin, self._begin_pending = self._begin_pending, False
        return begin

    def commit(self) -> None:
        if not self.take_begin():
            super().commit()

    def rollback(self) -> None:
        """No trip when no transaction is open: the pool rolls back every connection it takes
        back, most of them just committed. The sqlite3 connection is idle between statements,
        so reading its state from the loop's thread is safe."""
        self.take_begin()
        database = self._connection._connection
        if database is not None and database.in_transaction:
            super().rollback()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """aiosqlite as SQLAlchemy adapts it, its connections making `OneTripCursor`s."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


def one_trip_dbapi() -> OneTripDBAPI:
    """The DBAPI to give `create_async_engine(…, module=…)` for `sqlite+aiosqlite` URLs."""
    return OneTripDBAPI(aiosqlite, sqlite3)
