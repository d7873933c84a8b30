"""Pooled connections, and what overload looks like when getting one or the write lock:
StorageBusy, whichever unit of work or one-statement write meets it."""

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from application.ports.unit_of_work import StorageBusy


async def checkout(engine: AsyncEngine) -> AsyncConnection:
    """A pooled connection; StorageBusy when none comes free in the pool's timeout."""
    try:
        return await engine.connect()
    except exc.TimeoutError as error:
        raise StorageBusy("no database connection came free in time") from error


@asynccontextmanager
async def autocommit(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection in autocommit, for a write that is one statement: no BEGIN and
    COMMIT round trips around it, and the statement is atomic on its own."""
    connection = await checkout(engine)
    try:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")
    finally:
        await connection.close()


WRITE_LOCK_NOT_FREE = "the database's write lock did not come free in time"


def write_lock_not_free(error: BaseException | None) -> bool:
    """SQLite's `database is locked` (as raised, or wrapped by SQLAlchemy): the busy timeout
    ran out while other writers held the lock, so nothing of the transaction was done.
    Overload, as when the pool has no connection."""
    if isinstance(error, exc.DBAPIError):
        error = error.orig
    return isinstance(error, sqlite3.OperationalError) and str(error).startswith(
        "database is locked"
    )
