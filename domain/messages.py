"""Messages and the life of a reply: streaming until it completes or fails."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from domain.errors import IllegalTransition, InvalidField

MAX_CONTENT_CHARS = 32_000


class Role(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class MessageStatus(StrEnum):
    STREAMING = "streaming"
    COMPLETE = "complete"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ChatTurn:
    """One message of the history given to a model or an agent: a role and its text."""

    role: Role
    content: str


def clean_content(content: str) -> str:
    """What a user may send: not blank, at most 32,000 characters. Kept verbatim otherwise."""
    if not content.strip():
        raise InvalidField("content", "must not be empty")
    if len(content) > MAX_CONTENT_CHARS:
        raise InvalidField("content", f"must be at most {MAX_CONTENT_CHARS} characters")
    return content


class ToolStatus(StrEnum):
    RUNNING = "running"
    OK = "ok"
    ERROR = "error"


@dataclass(slots=True)
class ToolUse:
    """A tool the agent ran while writing a reply."""

    call_id: str
    tool: str
    status: ToolStatus = ToolStatus.RUNNING
    duration_ms: int | None = None


@dataclass(slots=True)
class AgentReplyInfo:
    """What the agent did for a reply: its session (ours, once known), the tools it ran, and
    the question it asked when the reply ends by asking one."""

    session_id: UUID | None = None
    tools: list[ToolUse] = field(default_factory=list)
    question_id: str | None = None

    def tool_started(self, call_id: str, tool: str) -> None:
        self.tools.append(ToolUse(call_id, tool))

    def tool_finished(self, call_id: str, tool: str, ok: bool, duration_ms: int | None) -> None:
        """Close the tool call; one never announced as started is recorded as it finished."""
        use = next((u for u in self.tools if u.call_id == call_id), None)
        if use is None:
            use = ToolUse(call_id, tool)
            self.tools.append(use)
        use.status = ToolStatus.OK if ok else ToolStatus.ERROR
        use.duration_ms = duration_ms

    def copy(self) -> AgentReplyInfo:
        return AgentReplyInfo(
            self.session_id, [replace(use) for use in self.tools], self.question_id
        )


@dataclass(slots=True)
class Message:
    """One message of a conversation.

    `event_seq` is the sequence number of the latest live event this stored state reflects; it lets
    a reconnecting client be brought up to date from the database when the replay buffer no longer
    holds what it missed.
    """

    id: UUID
    conversation_id: UUID
    role: Role
    content: str
    status: MessageStatus
    created_at: datetime
    reply_to: UUID | None = None
    event_seq: int = 0
    agent: AgentReplyInfo | None = None

    @classmethod
    def from_user(cls, id: UUID, conversation_id: UUID, content: str, now: datetime) -> Message:
        return cls(
            id=id,
            conversation_id=conversation_id,
            role=Role.USER,
            content=clean_content(content),
            status=MessageStatus.COMPLETE,
            created_at=now,
        )

    @classmethod
    def pending_reply(
        cls, id: UUID, conversation_id: UUID, reply_to: UUID, now: datetime, by_agent: bool = False
    ) -> Message:
        """An empty streaming reply; `by_agent` replies carry agent metadata from the start."""
        return cls(
            id=id,
            conversation_id=conversation_id,
            role=Role.ASSISTANT,
            content="",
            status=MessageStatus.STREAMING,
            created_at=now,
            reply_to=reply_to,
            agent=AgentReplyInfo() if by_agent else None,
        )

    @property
    def by_agent(self) -> bool:
        return self.agent is not None

    @property
    def is_streaming(self) -> bool:
        return self.status is MessageStatus.STREAMING

    def snapshot(self) -> Message:
        """A copy that later changes of this message leave as it is."""
        return replace(self, agent=None if self.agent is None else self.agent.copy())

    def append(self, delta: str) -> None:
        self._require_streaming(MessageStatus.STREAMING)
        self.content += delta

    def complete(self) -> None:
        self._require_streaming(MessageStatus.COMPLETE)
        self.status = MessageStatus.COMPLETE

    def fail(self) -> None:
        self._require_streaming(MessageStatus.FAILED)
        self.status = MessageStatus.FAILED

    def _require_streaming(self, wanted: MessageStatus) -> None:
        if self.status is not MessageStatus.STREAMING:
            raise IllegalTransition("message", self.status.value, wanted.value)
