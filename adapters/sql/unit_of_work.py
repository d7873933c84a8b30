from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sql.agent_sessions import SqlAgentSessionRepository
from adapters.sql.connections import WRITE_LOCK_NOT_FREE, checkout, write_lock_not_free
from adapters.sql.conversations import SqlConversationRepository
from adapters.sql.dead_letters import SqlDeadLetterRepository
from adapters.sql.history import SqlHistoryRepository
from adapters.sql.messages import SqlMessageRepository
from adapters.sql.routing_overrides import SqlRoutingOverrideRepository
from application.ports.unit_of_work import StorageBusy, UnitOfWork


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
