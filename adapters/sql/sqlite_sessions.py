"""A new agent session, or a session's versioned update, stored on SQLite with its
transaction's next trip to the connection's thread (`sqlite_thread.with_next_trip`), as a
message's exchange is (`sqlite_exchange`). A turn's start stores the exchange and the
session, and nothing needs their answer before the commit: on a conversation's first agent
message they go with the COMMIT, one trip while the write lock is held instead of three, and
on a follow-up with the history's read. Their refusals are decided on the thread and raised
by that trip."""

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
from application.ports.agent_sessions import LiveSessionExists, StaleAgentSession

_TABLE = conversation_agent_sessions.name


async def add_session_with_next_trip(
    connection: AsyncConnection, columns: tuple[str, ...], row: Mapping[str, Any]
) -> None:
    """Insert `row` (a value for each of `columns`) into the sessions. The unique index on a
    conversation's live session refusing it is LiveSessionExists."""
    values = _bound(connection, columns, row)
    sql = insert_sql(_TABLE, columns)
    await with_next_trip(connection, _insert, sql, values, str(row["conversation_id"]))


async def save_session_with_next_trip(
    connection: AsyncConnection, columns: tuple[str, ...], row: Mapping[str, Any]
) -> None:
    """Write `columns` of the session `row["id"]` if its row still has `row["version"]`, and
    bump the stored version; StaleAgentSession if it does not."""
    keyed = (*columns, "id", "version")
    values = _bound(connection, keyed, row)
    await with_next_trip(connection, _update, _update_sql(columns), values, str(row["id"]))


def _insert(database: sqlite3.Connection, sql: str, values: Row, conversation_id: str) -> None:
    try:
        database.execute(sql, values)
    except sqlite3.IntegrityError as error:
        if is_unique_violation(error):
            raise LiveSessionExists(conversation_id) from error
        raise


def _update(database: sqlite3.Connection, sql: str, values: Row, session_id: str) -> None:
    if database.execute(sql, values).rowcount != 1:
        raise StaleAgentSession(session_id)


def _bound(connection: AsyncConnection, columns: tuple[str, ...], row: Mapping[str, Any]) -> Row:
    return bound(tuple(row[name] for name in columns), _processors(connection.dialect, columns))


@lru_cache(maxsize=4)
def _update_sql(columns: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{name} = ?" for name in columns)
    return (
        f"UPDATE {_TABLE} SET {assignments}, version = version + 1 "  # noqa: S608
        "WHERE id = ? AND version = ?"
    )


@lru_cache(maxsize=4)
def _processors(dialect: Dialect, columns: tuple[str, ...]) -> Processors:
    return processors(conversation_agent_sessions, columns, dialect)
