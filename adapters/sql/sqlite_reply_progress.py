"""The group writes of streaming agent replies on SQLite: one trip to the connection's thread.

Through SQLAlchemy a group write was six trips to aiosqlite's thread (BEGIN IMMEDIATE, a
statement per 16 sessions, the replies, COMMIT), each a wake-up of the thread, the GIL handed
over twice and the loop woken through its self-pipe, and SQLAlchemy building every row's
parameters on the loop. Here the parameters are bound on the loop with the columns' own
SQLAlchemy processors (so the stored values are exactly what the repositories write and
read), and the whole transaction runs in one function on the thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

import aiosqlite
from sqlalchemy import ClauseElement
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql import agent_sessions, messages
from adapters.sql.unit_of_work import checkout
from application.ports.reply_progress import ReplyProgress
from domain.agent_sessions import AgentSession
from domain.messages import Message

_Binder = Callable[[dict[str, Any]], tuple[Any, ...]]


def _binder(statement: ClauseElement, dialect: Dialect) -> tuple[str, _Binder]:
    """The statement's SQL for `dialect` and a function turning its named values into the
    positional parameters sqlite3 takes, each through its column type's bind processor.
    Values the statement holds itself (a literal such as `version + 1`) bind as compiled."""
    compiled = statement.compile(dialect=dialect)
    held = compiled.params
    processors = [
        (name, compiled.binds[name].type.bind_processor(dialect))
        for name in compiled.positiontup or ()
    ]

    def bind(values: dict[str, Any]) -> tuple[Any, ...]:
        given = [(values.get(name, held[name]), process) for name, process in processors]
        return tuple(value if process is None else process(value) for value, process in given)

    return str(compiled), bind


def _write(
    connection: aiosqlite.Connection,
    sessions_sql: str,
    sessions: Sequence[tuple[UUID, tuple[Any, ...]]],
    replies_sql: str,
    replies: dict[UUID, tuple[Any, ...]],
) -> set[UUID]:
    """On the connection's thread: the sessions whose version still matches, then their
    replies, in one transaction. Returns the ids of the sessions saved."""
    database: sqlite3.Connection = connection._conn
    database.execute("BEGIN IMMEDIATE")
    try:
        saved = {id for id, row in sessions if database.execute(sessions_sql, row).rowcount == 1}
        database.executemany(replies_sql, [row for id, row in replies.items() if id in saved])
        database.execute("COMMIT")
    except BaseException:
        database.execute("ROLLBACK")
        raise
    return saved


class SqliteReplyProgress(ReplyProgress):
    """The sessions' version-checked progress and the replies of those still current, in one
    transaction that makes one trip to aiosqlite's thread (see the module). Relies on the
    private names `sqlite_one_trip` does (`Connection._execute`, `_conn`)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        dialect = engine.dialect
        self._sessions_sql, self._bind_session = _binder(agent_sessions.SAVE_PROGRESS, dialect)
        self._replies_sql, self._bind_reply = _binder(
            messages.progress_statement(dialect.name), dialect
        )

    async def save(self, progress: Sequence[tuple[AgentSession, Message]]) -> set[UUID]:
        sessions = [
            (session.id, self._bind_session(agent_sessions.progress_values(session)))
            for session, _ in progress
        ]
        replies = {
            session.id: self._bind_reply(messages.progress_values(reply))
            for session, reply in progress
        }
        connection = await checkout(self._engine)
        try:
            raw = (await connection.get_raw_connection()).driver_connection
            saved = await raw._execute(
                _write, raw, self._sessions_sql, sessions, self._replies_sql, replies
            )
        finally:
            await connection.close()
        for session, _ in progress:
            if session.id in saved:
                session.version += 1
        return {session.id for session, _ in progress} - saved
