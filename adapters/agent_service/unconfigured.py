"""The Agent Service port when no Agent Service is configured."""

from __future__ import annotations

from collections.abc import AsyncIterator

from application.ports.agent_gateway import (
    AgentEventPage,
    AgentGateway,
    AgentTurnRequest,
    AgentUnavailable,
    RemoteSessionStatus,
)
from domain.agent_events import AgentEvent

WHY = "no Agent Service is configured (set CONVO_AGENT_SERVICE_URL)"


class NoAgentService(AgentGateway):
    """Always unavailable: its health check fails, so the router sends agent-bound messages
    to the direct model (`agent_unavailable`), and any call says what is missing."""

    def execute_agent(self, request: AgentTurnRequest) -> AsyncIterator[AgentEvent]:
        return self._refuse()

    def resume(self, session_id: str, last_event_id: int | None) -> AsyncIterator[AgentEvent]:
        return self._refuse()

    async def poll_events(self, session_id: str, after: int | None) -> AgentEventPage:
        raise AgentUnavailable(WHY)

    async def get_session_status(self, session_id: str) -> RemoteSessionStatus:
        raise AgentUnavailable(WHY)

    async def health(self) -> bool:
        return False

    async def _refuse(self) -> AsyncIterator[AgentEvent]:
        raise AgentUnavailable(WHY)
        yield  # pragma: no cover - makes this an async generator
