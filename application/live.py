"""Live events: what clients watching a conversation receive, and how messages appear in them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.messages import Message, MessageStatus, Role

ENVELOPE_VERSION = 1


class EventType(StrEnum):
    MESSAGE_CREATED = "message.created"
    MESSAGE_DELTA = "message.delta"
    MESSAGE_COMPLETED = "message.completed"
    MESSAGE_FAILED = "message.failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveEvent:
    """The versioned envelope, field for field; `seq` is 0 until the bus numbers it."""

    v: int = ENVELOPE_VERSION
    type: str
    conversation_id: UUID
    message_id: UUID | None
    seq: int = 0
    data: Mapping[str, Any] = field(default_factory=dict)

    def numbered(self, seq: int) -> LiveEvent:
        return replace(self, seq=seq)


def message_payload(message: Message) -> dict[str, Any]:
    """A message as clients see it, in events and in the HTTP API alike."""
    return {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "role": message.role.value,
        "content": message.content,
        "status": message.status.value,
        "created_at": message.created_at,
    }


def message_created(message: Message) -> LiveEvent:
    return LiveEvent(
        type=EventType.MESSAGE_CREATED,
        conversation_id=message.conversation_id,
        message_id=message.id,
        data={"message": message_payload(message)},
    )


def message_delta(message: Message, delta: str) -> LiveEvent:
    return LiveEvent(
        type=EventType.MESSAGE_DELTA,
        conversation_id=message.conversation_id,
        message_id=message.id,
        data={"delta": delta},
    )


def message_finished(message: Message, reason: str | None = None) -> LiveEvent:
    """`message.completed`, or `message.failed` with a reason fit to show a user."""
    if message.status is MessageStatus.FAILED:
        data: dict[str, Any] = {"message": message_payload(message)}
        if reason:
            data["reason"] = reason
        return LiveEvent(
            type=EventType.MESSAGE_FAILED,
            conversation_id=message.conversation_id,
            message_id=message.id,
            data=data,
        )
    return LiveEvent(
        type=EventType.MESSAGE_COMPLETED,
        conversation_id=message.conversation_id,
        message_id=message.id,
        data={"message": message_payload(message)},
    )


def snapshot(message: Message) -> LiveEvent:
    """The stored state of a message as one event, numbered with the seq it reflects: what a
    client gets for a message it missed when the replay buffer cannot cover the gap.

    A finished reply comes as `message.completed`/`message.failed`; anything else (a reply still
    streaming, with its text so far, or a user's message) as `message.created`. All three carry
    the whole message, so a client can apply them whether or not it saw the message before.
    """
    if message.role is Role.ASSISTANT and not message.is_streaming:
        event = message_finished(message)
    else:
        event = message_created(message)
    return event.numbered(message.event_seq)
