"""Which live event each message last reflects, stored on SQLite in one trip to the
connection's thread (`sqlite_thread`): one statement in a transaction, where through
SQLAlchemy it takes two trips (BEGIN IMMEDIATE with the update, then COMMIT) and an
executemany bound on the loop. Every message sent
stores its seqs, and every agent turn again at its end."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.sqlite_thread import (
    Row,
    bound,
    in_one_trip,
    processors,
    update_rows,
    values_update,
)
from adapters.sql.tables import messages
from application.ports.event_seq_store import EventSeqStore

_COLUMNS = ("id", "event_seq")
_raise_sql = values_update(
    messages.name,
    _COLUMNS,
    "event_seq = v.event_seq",
    f"{messages.name}.id = v.id AND {messages.name}.event_seq < v.event_seq",
)


def _write(database: sqlite3.Connection, rows: Sequence[Row]) -> None:
    update_rows(database, _raise_sql, rows)


class SqliteEventSeqStore(EventSeqStore):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._processors = processors(messages, _COLUMNS, engine.dialect)

    async def record(self, seqs: Mapping[UUID, int]) -> None:
        rows = [bound(pair, self._processors) for pair in seqs.items()]
        await in_one_trip(self._engine, _write, rows)
