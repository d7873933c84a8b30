"""A user's message, its reply and its conversation's activity stored on SQLite with the
caller's transaction's next trip to the connection's thread.

Through SQLAlchemy they are two statements, two trips (architecture/0020); a trip made while
the transaction holds the write lock keeps every other writer waiting for the event loop to
come round, so every message sent waited a loop's turn longer. Here the rows are bound on the
loop with the columns' own SQLAlchemy bind processors, as the hot group writes are
(`sqlite_thread`), and both statements run in one function on the thread, deferred to the
transaction's next statement or its COMMIT: nothing needs their answer before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

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
from adapters.sql.tables import conversations, messages
from application.ports.repositories import DuplicateIdempotencyKey


async def add_exchange_with_next_trip(
    connection: AsyncConnection,
    columns: tuple[str, ...],
    rows: Sequence[Mapping[str, Any]],
    conversation_id: UUID,
    updated_at: datetime,
    idempotency_key: str | None,
) -> None:
    """Insert `rows` (each `b_<column>` for every column of `columns`) into messages and set
    the conversation's `updated_at`, in the connection's transaction, with its next trip. A
    unique index refusing a row with `idempotency_key` set is DuplicateIdempotencyKey, raised
    by that trip (the next statement or the commit)."""
    dialect = connection.dialect
    message_processors, touch_processors = _processors(dialect, columns)
    values = [
        bound(tuple(row[f"b_{name}"] for name in columns), message_processors) for row in rows
    ]
    touch = bound((updated_at, conversation_id), touch_processors)
    insert = insert_sql(messages.name, columns)
    await with_next_trip(connection, _write, insert, values, touch, idempotency_key)


_TOUCH_SQL = f"UPDATE {conversations.name} SET updated_at = ? WHERE id = ?"  # noqa: S608


def _write(
    database: sqlite3.Connection,
    insert_sql: str,
    values: Sequence[Row],
    touch: Row,
    idempotency_key: str | None,
) -> None:
    try:
        database.executemany(insert_sql, values)
    except sqlite3.IntegrityError as error:
        if idempotency_key is not None and is_unique_violation(error):
            raise DuplicateIdempotencyKey(idempotency_key) from error
        raise
    database.execute(_TOUCH_SQL, touch)


@lru_cache(maxsize=4)
def _processors(dialect: Dialect, columns: tuple[str, ...]) -> tuple[Processors, Processors]:
    return processors(messages, columns, dialect), processors(
        conversations, ("updated_at", "id"), dialect
    )
