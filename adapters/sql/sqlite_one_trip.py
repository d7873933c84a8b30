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
import threading
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple, TypeVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

T = TypeVar("T")

BUSY_TIMEOUT_S = 10.0
"""How long a write transaction waits for SQLite's write lock, in this process or another."""


class WriterLock:
    """SQLite's write lock, taken in this process before SQLite is asked for it.

    SQLite lets one write transaction at a time in; every other connection asking
    (`BEGIN IMMEDIATE`) waits on its thread in SQLite's busy handler, which polls, sleeping 1,
    2, 5, 10, 25, 50 then 100 ms between tries: a lock given up just after a waiter went to
    sleep stays unused until it wakes, and which waiter gets it is luck (a writer can miss
    its turn for the whole busy timeout). Here a connection's thread takes this lock before
    `BEGIN IMMEDIATE` and gives it back right after its `COMMIT` or `ROLLBACK`, still on the
    thread: a thread waiting for it sleeps in the operating system and is woken at once, the
    event loop not involved. SQLite's own wait remains for other processes.
    """

    def __init__(self, timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self._lock = threading.Lock()
        self._timeout_s = timeout_s

    def acquire(self) -> None:
        """On a connection's thread."""
        if not self._lock.acquire(timeout=self._timeout_s):
            raise sqlite3.OperationalError("database is locked")

    def release(self) -> None:
        self._lock.release()


class Writing:
    """Whether one connection holds its engine's `WriterLock`; set and cleared on its thread,
    read on the loop only once the thread is idle."""

    __slots__ = ("held", "lock")

    def __init__(self, lock: WriterLock) -> None:
        self.lock = lock
        self.held = False

    def take(self) -> None:
        self.lock.acquire()
        self.held = True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self.lock.release()

    def give_back_unless_in(self, database: sqlite3.Connection | None) -> None:
        if database is None or not database.in_transaction:
            self.give_back()


def begin_writing(database: sqlite3.Connection, writing: Writing) -> None:
    """On the connection's thread: the writer lock, then `BEGIN IMMEDIATE`; the lock is given
    back if the BEGIN fails."""
    writing.take()
    try:
        database.execute("BEGIN IMMEDIATE")
    except BaseException:
        writing.give_back()
        raise


class _Outcome(NamedTuple):
    description: Any
    rowcount: int
    lastrowid: int | None
    rows: Sequence[Any]


Deferred = list[tuple[Callable[..., None], tuple[Any, ...]]]
"""Writes waiting for their transaction's next trip: `write(database, *args)` each, in order."""


def _run_deferred(database: sqlite3.Connection, deferred: Deferred) -> None:
    for write, args in deferred:
        write(database, *args)


def _run_statement(
    connection: aiosqlite.Connection,
    operation: str,
    parameters: Any,
    many: bool,
    writing: Writing | None,
    deferred: Deferred,
) -> _Outcome:
    """On the connection's thread: the statement and everything SQLAlchemy reads of it, after
    the writer lock and `BEGIN IMMEDIATE` when it is its transaction's first, and after the
    writes deferred to this trip."""
    if writing is not None:
        begin_writing(connection._conn, writing)
    _run_deferred(connection._conn, deferred)
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
        adapted: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        connection = self._connection
        writing = adapted.writing if adapted.take_begin() else None
        deferred = adapted.take_deferred()
        try:
            outcome = await_(
                connection._execute(
                    _run_statement, connection, operation, parameters, many, writing, deferred
                )
            )
        except Exception as error:
            adapted._handle_exception(error)
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
    (`begin_with_next_statement`), after taking the engine's `WriterLock` on the thread, ends
    it and gives the lock back in one trip, and makes no trip to end a transaction that is not
    open. Writes deferred to the next trip (`defer`) go with the next statement or the
    COMMIT, whichever comes first, and are dropped by a rollback."""

    __slots__ = ("_begin_pending", "_deferred", "writing")

    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: aiosqlite.Connection, lock: WriterLock) -> None:
        super().__init__(dbapi, connection)
        self._begin_pending = False
        self._deferred: Deferred = []
        self.writing = Writing(lock)

    def begin_with_next_statement(self) -> None:
        """`BEGIN IMMEDIATE` runs on the thread just before the next statement, one trip for
        both; nothing happens on the connection in between, so the write lock is taken as if
        at once."""
        self._begin_pending = True

    def take_begin(self) -> bool:
        begin, self._begin_pending = self._begin_pending, False
        return begin

    def defer(self, write: Callable[..., None], args: tuple[Any, ...]) -> None:
        """Run `write(database, *args)` on the thread in the transaction's next trip, before
        its statement or its COMMIT; what it raises is raised there."""
        self._deferred.append((write, args))

    def take_deferred(self) -> Deferred:
        deferred, self._deferred = self._deferred, []
        return deferred

    def commit(self) -> None:
        deferred = self.take_deferred()
        begin = self.take_begin()
        if deferred:
            writing = self.writing if begin else None
            self._end_on_thread(partial(_commit_deferred, deferred, writing))
        elif not begin:
            self._end_on_thread(_commit)

    def rollback(self) -> None:
        """No trip when no transaction is open: the pool rolls back every connection it takes
        back, most of them just committed. The sqlite3 connection is idle between statements,
        so reading its state from the loop's thread is safe."""
        self.take_begin()
        self._deferred.clear()
        database = self._connection._connection
        if database is not None and database.in_transaction:
            self._end_on_thread(_rollback)
        else:
            self.writing.give_back()

    def _end_on_thread(self, end: Callable[[sqlite3.Connection, Writing], None]) -> None:
        try:
            await_(self._connection._execute(end, self._connection._conn, self.writing))
        except Exception as error:
            self._handle_exception(error)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.writing.give_back()

    def terminate(self) -> None:
        """SQLAlchemy's end for a connection it invalidated or the collector found unreturned."""
        try:
            super().terminate()
        finally:
            self.writing.give_back()


def _commit(database: sqlite3.Connection, writing: Writing) -> None:
    """On the thread: the lock goes to the next writer the moment the transaction ends."""
    try:
        database.commit()
    finally:
        writing.give_back_unless_in(database)


def _commit_deferred(
    deferred: Deferred, begin: Writing | None, database: sqlite3.Connection, writing: Writing
) -> None:
    """On the thread: the deferred writes and the COMMIT, after the writer lock and `BEGIN
    IMMEDIATE` when nothing began the transaction yet (`begin`)."""
    write_and_commit(database, begin, writing, partial(_run_deferred, deferred=deferred))


def write_and_commit(
    database: sqlite3.Connection,
    begin: Writing | None,
    writing: Writing,
    write: Callable[[sqlite3.Connection], T],
) -> T:
    """On a connection's thread: `write(database)` then COMMIT, after the writer lock and
    `BEGIN IMMEDIATE` when `begin` is given (nothing began the transaction yet); rolled back
    if it fails, and the lock given back as the transaction ends, so that it goes to the next
    writer at once."""
    if begin is not None:
        begin_writing(database, begin)
    try:
        result = write(database)
        database.commit()
    except BaseException:
        if database.in_transaction:
            database.rollback()
        raise
    finally:
        writing.give_back_unless_in(database)
    return result


def _rollback(database: sqlite3.Connection, writing: Writing) -> None:
    try:
        database.rollback()
    finally:
        writing.give_back_unless_in(database)


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """aiosqlite as SQLAlchemy adapts it, its connections making `OneTripCursor`s and sharing
    one `WriterLock` (an engine's)."""

    def __init__(self, aiosqlite: Any, sqlite: Any) -> None:
        super().__init__(aiosqlite, sqlite)
        self.writer_lock = WriterLock()

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection, self.writer_lock)


def one_trip_dbapi() -> OneTripDBAPI:
    """The DBAPI to give `create_async_engine(…, module=…)` for `sqlite+aiosqlite` URLs."""
    return OneTripDBAPI(aiosqlite, sqlite3)
