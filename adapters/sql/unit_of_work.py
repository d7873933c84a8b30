import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.agent_sessions import SqlAgentSessionRepository
from adapters.sql.conversations import SqlConversationRepository
from adapters.sql.dead_letters import SqlDeadLetterRepository
from adapters.sql.history import SqlHistoryRepository
from adapters.sql.messages import SqlMessageRepository
from adapters.sql.routing_overrides import SqlRoutingOverrideRepository
from application.ports.unit_of_work import StorageBusy, UnitOfWork


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


class SqlUnitOfWork(UnitOfWork):
    """One transaction on one pooled connection; rolled back on exit unless committed."""

    conversations: SqlConversationRepository
    messages: SqlMessageRepository
    agent_sessions: SqlAgentSessionRepository
    routing_overrides: SqlRoutingOverrideRepository
    history: SqlHistoryRepository
    dead_letters: SqlDeadLetterRepository

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def __aenter__(self) -> Self:
        self._connection = await checkout(self._engine)
        await self._connection.begin()
        self.conversations = SqlConversationRepository(self._connection)
        self.messages = SqlMessageRepository(self._connection)
        self.agent_sessions = SqlAgentSessionRepository(self._connection)
        self.routing_overrides = SqlRoutingOverrideRepository(self._connection)
        self.history = SqlHistoryRepository(self._connection)
        self.dead_letters = SqlDeadLetterRepository(self._connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if connection.in_transaction():
                await connection.rollback()
        finally:
            await connection.close()
        if write_lock_not_free(exc):
            raise StorageBusy(WRITE_LOCK_NOT_FREE) from exc

    async def commit(self) -> None:
        assert self._connection is not None, "commit outside the unit of work"
        await self._connection.commit()


def write_lock_not_free(error: BaseException | None) -> bool:
    """SQLite's `database is locked` (as raised, or wrapped by SQLAlchemy): the busy timeout
    ran out while other writers held the lock, so nothing of the transaction was done.
    Overload, as when the pool has no connection."""
    if isinstance(error, exc.DBAPIError):
        error = error.orig
    return isinstance(error, sqlite3.OperationalError) and str(error).startswith(
        "database is locked"
    )
