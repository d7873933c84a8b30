"""A new agent session stored on SQLite with its transaction's next trip to the connection's
thread (`sqlite_thread.with_next_trip`), as a message's exchange is (`sqlite_exchange`): a
turn's start stores both, and nothing needs their answer before the transaction's commit, so
on a conversation's first agent message they go with the COMMIT, one trip while the write
lock is held instead of three."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.errors import is_unique_violation
from adapters.sql.sqlite_thread import (
    Processors,
    Row,
    bound,
    insert_sql,
    processors,
    with_next_trip,
)
from adapters.sql.tables import conversation_agent_sessions
from application.ports.agent_sessions import LiveSessionExists


async def add_session_with_next_trip(
    connection: AsyncConnection, columns: tuple[str, ...], row: Mapping[str, Any]
) -> None:
    """Insert `row` (a value for each of `columns`) into the sessions, with the transaction's
    next trip. The unique index on a conversation's live session refusing it is
    LiveSessionExists, raised by that trip (the next statement or the commit)."""
    values = bound(tuple(row[name] for name in columns), _processors(connection.dialect, columns))
    sql = insert_sql(conversation_agent_sessions.name, columns)
    await with_next_trip(connection, _insert, sql, values, str(row["conversation_id"]))


def _insert(database: sqlite3.Connection, sql: str, values: Row, conversation_id: str) -> None:
    try:
        database.execute(sql, values)
    except sqlite3.IntegrityError as error:
        if is_unique_violation(error):
            raise LiveSessionExists(conversation_id) from error
        raise


@lru_cache(maxsize=2)
def _processors(dialect: Dialect, columns: tuple[str, ...]) -> Processors:
    return processors(conversation_agent_sessions, columns, dialect)
