"""Failed agent requests, kept for operators to analyse and replay."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One agent turn that failed. `request` describes what was asked (profile, input, history
    length, user context); it never holds credentials."""

    id: UUID
    conversation_id: UUID
    error_kind: str
    error_message: str
    retryable: bool
    created_at: datetime
    session_id: UUID | None = None
    reply_id: UUID | None = None
    agent_session_id: str | None = None
    error_code: str | None = None
    request: Mapping[str, Any] = field(default_factory=dict)


class DeadLetterRepository(Protocol):
    async def add(self, letter: DeadLetter) -> None: ...

    async def recent(self, limit: int) -> Sequence[DeadLetter]:
        """The newest dead letters first."""
        ...
