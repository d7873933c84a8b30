"""The group writes of streaming agent replies on SQLite: one trip to the connection's thread.

Through SQLAlchemy a group write was six trips to aiosqlite's thread (BEGIN IMMEDIATE, a
statement per 16 sessions, the replies, COMMIT), each a wake-up of the thread, the GIL handed
over twice and the loop woken through its self-pipe, and SQLAlchemy building every row's
parameters on the loop. Here the parameters are bound on the loop with the columns' own
SQLAlchemy bind processors (so the stored values are what the repositories write and read),
and the transaction runs in one function on the thread, in as few sqlite3 calls as it can:
the sessions in one statement, their replies in another. When a session was saved by
somebody else since it was read (rare), the transaction is rolled back and done again a
statement per session, to learn which.

Binding a group's rows is uninterrupted work for the event loop: a group of 40 bound at once
doubled the live events' p99 latency at 200 streams, so the loop is let go every
`_BOUND_AT_ONCE` rows.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any
from uuid import UUID

import aiosqlite
from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.messages import agent_to_json
from adapters.sql.tables import conversation_agent_sessions, messages
from adapters.sql.unit_of_work import checkout
from application.ports.reply_progress import ReplyProgress
from domain.agent_sessions import AgentSession
from domain.messages import Message

_SESSION_COLUMNS = (
    "id",
    "version",
    "agent_session_id",
    "last_interaction_at",
    "last_event_id",
    "turn_started_at",
    "turn_reply_id",
    "turn_lease_until",
)
_REPLY_COLUMNS = ("id", "content", "status", "event_seq", "agent")
_BOUND_AT_ONCE = 8
_ROWS_PER_STATEMENT = 1000
"""8,000 parameters at most, well within SQLite's limit (32,766 since 3.32)."""
_Row = tuple[Any, ...]


@lru_cache(maxsize=64)
def _sessions_sql(count: int) -> str:
    """`count` sessions' progress, each where its version still matches, bumping it."""
    names = ", ".join(_SESSION_COLUMNS)
    rows = ", ".join(["(" + ", ".join("?" * len(_SESSION_COLUMNS)) + ")"] * count)
    table = conversation_agent_sessions.name
    assignments = ", ".join(f"{name} = v.{name}" for name in _SESSION_COLUMNS[2:])
    # Only the table's own names are spliced in; every value is a parameter.
    return (
        f"WITH v({names}) AS (VALUES {rows}) "  # noqa: S608
        f"UPDATE {table} SET {assignments}, version = {table}.version + 1 FROM v "
        f"WHERE {table}.id = v.id AND {table}.version = v.version"
    )


@lru_cache(maxsize=64)
def _replies_sql(count: int) -> str:
    """`count` replies' progress; a reply's seq never goes back."""
    names = ", ".join(_REPLY_COLUMNS)
    rows = ", ".join(["(" + ", ".join("?" * len(_REPLY_COLUMNS)) + ")"] * count)
    table = messages.name
    return (
        f"WITH v({names}) AS (VALUES {rows}) "  # noqa: S608
        f"UPDATE {table} SET content = v.content, status = v.status, "
        f"event_seq = max({table}.event_seq, v.event_seq), agent = v.agent FROM v "
        f"WHERE {table}.id = v.id"
    )


def _processors(
    table: Table, names: Sequence[str], dialect: Dialect
) -> list[Callable[[Any], Any] | None]:
    """Each column's SQLAlchemy bind processor: the values the repositories would store."""
    return [table.c[name].type.bind_processor(dialect) for name in names]


def _bound(values: _Row, processors: Sequence[Callable[[Any], Any] | None]) -> _Row:
    return tuple(
        value if process is None else process(value)
        for value, process in zip(values, processors, strict=True)
    )


def _write(
    connection: aiosqlite.Connection, sessions: Sequence[_Row], replies: Sequence[_Row]
) -> set[UUID]:
    """On the connection's thread: the sessions whose version still matches, then their
    replies, in one transaction. Each row is bound but for its last item, its session's id.
    Returns the ids of the sessions saved."""
    database: sqlite3.Connection = connection._conn
    database.execute("BEGIN IMMEDIATE")
    try:
        if _update(database, _sessions_sql, sessions) == len(sessions):
            saved = {session[-1] for session in sessions}
        else:
            database.execute("ROLLBACK")
            database.execute("BEGIN IMMEDIATE")
            saved = {s[-1] for s in sessions if _update(database, _sessions_sql, [s]) == 1}
        _update(database, _replies_sql, [reply for reply in replies if reply[-1] in saved])
        database.execute("COMMIT")
    except BaseException:
        if database.in_transaction:
            database.execute("ROLLBACK")
        raise
    return saved


def _update(database: sqlite3.Connection, sql: Callable[[int], str], rows: Sequence[_Row]) -> int:
    """`rows` (each without its last item) through `sql` of their count, a statement per
    `_ROWS_PER_STATEMENT`; the rows changed."""
    before = database.total_changes  # sqlite3 leaves rowcount at -1 after a WITH … UPDATE
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        database.execute(sql(len(chunk)), [value for row in chunk for value in row[:-1]])
    return database.total_changes - before


class SqliteReplyProgress(ReplyProgress):
    """The sessions' version-checked progress and the replies of those still current, in one
    transaction that makes one trip to aiosqlite's thread (see the module). Relies on the
    private names `sqlite_one_trip` does (`Connection._execute`, `_conn`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        dialect = engine.dialect
        self._session_processors = _processors(
            conversation_agent_sessions, _SESSION_COLUMNS, dialect
        )
        self._reply_processors = _processors(messages, _REPLY_COLUMNS, dialect)

    async def save(self, progress: Sequence[tuple[AgentSession, Message]]) -> set[UUID]:
        sessions, replies = [], []
        for n, (session, reply) in enumerate(progress, start=1):
            sessions.append((*self._session_row(session), session.id))
            replies.append((*self._reply_row(reply), session.id))
            if n % _BOUND_AT_ONCE == 0:
                await asyncio.sleep(0)
        connection = await checkout(self._engine)
        try:
            raw = (await connection.get_raw_connection()).driver_connection
            saved = await raw._execute(_write, raw, sessions, replies)
        finally:
            await connection.close()
        for session, _ in progress:
            if session.id in saved:
                session.version += 1
        return {session.id for session, _ in progress} - saved

    def _session_row(self, session: AgentSession) -> _Row:
        values = tuple(getattr(session, name) for name in _SESSION_COLUMNS)
        return _bound(values, self._session_processors)

    def _reply_row(self, reply: Message) -> _Row:
        values = (
            reply.id,
            reply.content,
            reply.status.value,
            reply.event_seq,
            agent_to_json(reply.agent),
        )
        return _bound(values, self._reply_processors)
