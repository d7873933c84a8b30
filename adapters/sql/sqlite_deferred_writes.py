"""The writes of a message's transaction on SQLite that wait for the transaction's next trip to
the connection's thread (`sqlite_thread.with_next_trip`): a user's message with its reply and
its conversation's activity, a new agent session, a session's versioned update.

Through SQLAlchemy each was a trip of its own while the transaction held the write lock
(architecture/0020), keeping every other writer waiting for the event loop to come round.
Nothing needs their answer before the next statement or the commit: their only outcomes are
success or a refusal that ends the transaction. So their rows are bound on the loop with the
columns' own SQLAlchemy bind processors, as the hot group writes are, and they run on the
thread with the transaction's next statement or its COMMIT; each decides its refusal there
and raises the port's error, which that trip raises.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.errors import is_unique_violation
from adapters.sql.sqlite_thread import Row, bound, insert_sql, processors, with_next_trip
from adapters.sql.tables import conversation_agent_sessions, conversations, messages
from application.ports.agent_sessions import LiveSessionExists, StaleAgentSession
from application.ports.repositories import DuplicateIdempotencyKey

_SESSIONS = conversation_agent_sessions
_TOUCH_COLUMNS = ("updated_at", "id")
_TOUCH_SQL = f"UPDATE {conversations.name} SET updated_at = ? WHERE id = ?"  # noqa: S608


async def add_exchange_with_next_trip(
    connection: AsyncConnection,
    columns: tuple[str, ...],
    rows: Sequence[Mapping[str, Any]],
    conversation_id: UUID,
    updated_at: datetime,
    idempotency_key: str | None,
) -> None:
    """Insert `rows` (each `b_<column>` for every column of `columns`) into messages and set
    the conversation's `updated_at`. A unique index refusing a row with `idempotency_key` set
    is DuplicateIdempotencyKey."""
    dialect = connection.dialect
    message_processors = processors(messages, columns, dialect)
    values = [
        bound(tuple(row[f"b_{name}"] for name in columns), message_processors) for row in rows
    ]
    touch = bound((updated_at, conversation_id), processors(conversations, _TOUCH_COLUMNS, dialect))
    insert = insert_sql(messages.name, columns)
    await with_next_trip(connection, _write_exchange, insert, values, touch, idempotency_key)


async def add_session_with_next_trip(
    connection: AsyncConnection, columns: tuple[str, ...], row: Mapping[str, Any]
) -> None:
    """Insert `row` (a value for each of `columns`) into the sessions. The unique index on a
    conversation's live session refusing it is LiveSessionExists."""
    values = _bound_session(connection, columns, row)
    sql = insert_sql(_SESSIONS.name, columns)
    await with_next_trip(connection, _insert_session, sql, values, str(row["conversation_id"]))


async def save_session_with_next_trip(
    connection: AsyncConnection, columns: tuple[str, ...], row: Mapping[str, Any]
) -> None:
    """Write `columns` of the session `row["id"]` if its row still has `row["version"]`, and
    bump the stored version; StaleAgentSession if it does not."""
    values = _bound_session(connection, (*columns, "id", "version"), row)
    sql = _update_session_sql(columns)
    await with_next_trip(connection, _update_session, sql, values, str(row["id"]))


def _write_exchange(
    database: sqlite3.Connection,
    insert: str,
    values: Sequence[Row],
    touch: Row,
    idempotency_key: str | None,
) -> None:
    try:
        database.executemany(insert, values)
    except sqlite3.IntegrityError as error:
        if idempotency_key is not None and is_unique_violation(error):
            raise DuplicateIdempotencyKey(idempotency_key) from error
        raise
    database.execute(_TOUCH_SQL, touch)


def _insert_session(
    database: sqlite3.Connection, sql: str, values: Row, conversation_id: str
) -> None:
    try:
        database.execute(sql, values)
    except sqlite3.IntegrityError as error:
        if is_unique_violation(error):
            raise LiveSessionExists(conversation_id) from error
        raise


def _update_session(database: sqlite3.Connection, sql: str, values: Row, session_id: str) -> None:
    if database.execute(sql, values).rowcount != 1:
        raise StaleAgentSession(session_id)


def _bound_session(
    connection: AsyncConnection, columns: tuple[str, ...], row: Mapping[str, Any]
) -> Row:
    values = tuple(row[name] for name in columns)
    return bound(values, processors(_SESSIONS, columns, connection.dialect))


@lru_cache(maxsize=4)
def _update_session_sql(columns: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{name} = ?" for name in columns)
    return (
        f"UPDATE {_SESSIONS.name} SET {assignments}, version = version + 1 "  # noqa: S608
        "WHERE id = ? AND version = ?"
    )
