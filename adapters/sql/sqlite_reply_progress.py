"""The group writes of streaming agent replies on SQLite: one trip to the connection's thread
(`sqlite_thread`), two statements there: the sessions' version-checked progress, then the
replies of those still current. When a session was saved by somebody else since it was read
(rare), the transaction is rolled back and done again a statement per session, to learn
which.

Binding a group's rows is uninterrupted work for the event loop: a group of 40 bound at once
doubled the live events' p99 latency at 200 streams, so the loop is let go every
`_BOUND_AT_ONCE` rows.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.agent_sessions import PROGRESS_COLUMNS
from adapters.sql.messages import agent_to_json
from adapters.sql.sqlite_thread import (
    Row,
    bound,
    in_one_trip,
    processors,
    update_rows,
    values_update,
)
from adapters.sql.tables import conversation_agent_sessions, messages
from application.ports.reply_progress import ReplyProgress
from domain.agent_sessions import AgentSession
from domain.messages import Message

_BOUND_AT_ONCE = 8
_SESSION_COLUMNS = ("id", "version", *PROGRESS_COLUMNS)
_REPLY_COLUMNS = ("id", "content", "status", "event_seq", "agent")
_s, _m = conversation_agent_sessions.name, messages.name
_sessions_sql = values_update(
    _s,
    _SESSION_COLUMNS,
    ", ".join(f"{name} = v.{name}" for name in PROGRESS_COLUMNS) + f", version = {_s}.version + 1",
    f"{_s}.id = v.id AND {_s}.version = v.version",
)
_replies_sql = values_update(
    _m,
    _REPLY_COLUMNS,
    f"content = v.content, status = v.status, event_seq = max({_m}.event_seq, v.event_seq), "
    "agent = v.agent",
    f"{_m}.id = v.id",
)


def _write(
    database: sqlite3.Connection,
    sessions: Sequence[tuple[UUID, Row]],
    replies: Sequence[tuple[UUID, Row]],
) -> set[UUID]:
    """On the connection's thread, in its transaction: the sessions whose version still
    matches, then their replies (each row keyed by its session's id). Returns the ids of the
    sessions saved."""
    if update_rows(database, _sessions_sql, [row for _, row in sessions]) == len(sessions):
        saved = {id for id, _ in sessions}
    else:
        database.execute("ROLLBACK")
        database.execute("BEGIN IMMEDIATE")
        saved = {id for id, row in sessions if update_rows(database, _sessions_sql, [row]) == 1}
    update_rows(database, _replies_sql, [row for id, row in replies if id in saved])
    return saved


class SqliteReplyProgress(ReplyProgress):
    """The sessions' version-checked progress and the replies of those still current, in one
    transaction that makes one trip to aiosqlite's thread (see the module)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        dialect = engine.dialect
        self._session_processors = processors(
            conversation_agent_sessions, _SESSION_COLUMNS, dialect
        )
        self._reply_processors = processors(messages, _REPLY_COLUMNS, dialect)

    async def save(self, progress: Sequence[tuple[AgentSession, Message]]) -> set[UUID]:
        sessions, replies = [], []
        for n, (session, reply) in enumerate(progress, start=1):
            sessions.append((session.id, self._session_row(session)))
            replies.append((session.id, self._reply_row(reply)))
            if n % _BOUND_AT_ONCE == 0:
                await asyncio.sleep(0)
        saved = await in_one_trip(self._engine, _write, sessions, replies)
        for session, _ in progress:
            if session.id in saved:
                session.version += 1
        return {session.id for session, _ in progress} - saved

    def _session_row(self, session: AgentSession) -> Row:
        values = tuple(getattr(session, name) for name in _SESSION_COLUMNS)
        return bound(values, self._session_processors)

    def _reply_row(self, reply: Message) -> Row:
        values = (
            reply.id,
            reply.content,
            reply.status.value,
            reply.event_seq,
            agent_to_json(reply.agent),
        )
        return bound(values, self._reply_processors)
