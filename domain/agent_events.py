"""What an agent reports while it works, as plain values.

The Agent Service client maps its wire events (docs/agent-service-contract.md) to these at the
adapter's edge; nothing past the adapter sees the wire format. Every event carries its id, which
increases within the agent session, and the session id where the wire gave one (the first event
of a stream always does). A turn ends with exactly one terminal event: TurnCompleted,
AgentFailed or QuestionAsked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentEvent:
    event_id: int
    session_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class Thought(AgentEvent):
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolStarted(AgentEvent):
    call_id: str
    tool: str
    input: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolFinished(AgentEvent):
    call_id: str
    tool: str
    output: Any = None
    ok: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerChunk(AgentEvent):
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class QuestionAsked(AgentEvent):
    """The agent paused its run until the user answers `question_id`."""

    question_id: str
    question: str
    choices: tuple[str, ...] = ()
    expires_at: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnCompleted(AgentEvent):
    answer: str | None = None
    usage: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentFailed(AgentEvent):
    code: str
    message: str
    retryable: bool = False

    @property
    def is_terminal(self) -> bool:
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownAgentEvent(AgentEvent):
    """An event type this version does not know: kept, logged and skipped, never a crash."""

    kind: str
    data: Mapping[str, Any] = field(default_factory=dict)
