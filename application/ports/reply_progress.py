from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from domain.agent_sessions import AgentSession
from domain.messages import Message


class ReplyProgress(Protocol):
    """Where the group writes of streaming agent replies go (`ReplyWrites`)."""

    async def save(self, progress: Sequence[tuple[AgentSession, Message]]) -> set[UUID]:
        """Store, all or nothing, each session's progress like
        `AgentSessionRepository.save_progress` and, where its version still matched, its
        reply like `MessageRepository.save_progress`. Bumps the versions of the sessions
        stored; returns the ids of the others (saved by somebody else since they were read),
        whose replies are left unwritten."""
        ...
