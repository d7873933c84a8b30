"""Messages and the life of a reply: streaming until it completes or fails."""

from __future__ import annotations

from dataclasses import dataclass
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
        cls, id: UUID, conversation_id: UUID, reply_to: UUID, now: datetime
    ) -> Message:
        return cls(
            id=id,
            conversation_id=conversation_id,
            role=Role.ASSISTANT,
            content="",
            status=MessageStatus.STREAMING,
            created_at=now,
            reply_to=reply_to,
        )

    @property
    def is_streaming(self) -> bool:
        return self.status is MessageStatus.STREAMING

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
