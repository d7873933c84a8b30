from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from application.ports.agent_sessions import AgentSessionRepository
from application.ports.dead_letters import DeadLetterRepository
from application.ports.history import HistoryRepository
from application.ports.repositories import ConversationRepository, MessageRepository
from application.ports.routing_overrides import RoutingOverrideRepository


class StorageBusy(Exception):
    """No database connection, or (SQLite) no turn at its write lock, came free in time: the
    process has more work than the database serves. Nothing was done; the caller may try
    again shortly."""


class UnitOfWork(Protocol):
    """One short database transaction. Rolls back on exit unless `commit()` was awaited.
    Entering raises StorageBusy when no connection comes free in time; leaving raises it in
    place of the error of a transaction that waited too long for the database's write lock."""

    conversations: ConversationRepository
    messages: MessageRepository
    agent_sessions: AgentSessionRepository
    routing_overrides: RoutingOverrideRepository
    history: HistoryRepository
    dead_letters: DeadLetterRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
