"""Live events: what clients watching a conversation receive, and how messages appear in them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID

from domain.messages import AgentReplyInfo, Message, MessageStatus, Role

ENVELOPE_VERSION = 1


class EventType(StrEnum):
    MESSAGE_CREATED = "message.created"
    MESSAGE_DELTA = "message.delta"
    MESSAGE_COMPLETED = "message.completed"
    MESSAGE_FAILED = "message.failed"
    AGENT_THINKING = "agent.thinking"
    AGENT_TOOL_STARTED = "agent.tool_started"
    AGENT_TOOL_FINISHED = "agent.tool_finished"
    AGENT_QUESTION = "agent.question"
    AGENT_QUESTION_EXPIRED = "agent.question_expired"
    AGENT_COMPLETED = "agent.completed"
    AGENT_ERROR = "agent.error"
    NOTICE = "notice"


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
        return LiveEvent(
            v=self.v,
            type=self.type,
            conversation_id=self.conversation_id,
            message_id=self.message_id,
            seq=seq,
            data=self.data,
        )


def message_payload(message: Message) -> dict[str, Any]:
    """A message as clients see it, in events and in the HTTP API alike. Replies written by
    the agent add `agent`; other messages keep exactly the baseline shape."""
    payload: dict[str, Any] = {
        "id": message.id,
        "conversation_id": message.conversation_id,
        "role": message.role.value,
        "content": message.content,
        "status": message.status.value,
        "created_at": message.created_at,
    }
    if message.agent is not None:
        payload["agent"] = agent_payload(message.agent)
    return payload


def agent_payload(info: AgentReplyInfo) -> dict[str, Any]:
    return {
        "session_id": info.session_id,
        "tools": [
            {
                "call_id": use.call_id,
                "tool": use.tool,
                "status": use.status.value,
                "duration_ms": use.duration_ms,
            }
            for use in info.tools
        ],
        "question_id": info.question_id,
    }


def about_reply(event_type: EventType, reply: Message, **data: Any) -> LiveEvent:
    """An agent event concerning a reply (`message_id` is the reply's id)."""
    return LiveEvent(
        type=event_type, conversation_id=reply.conversation_id, message_id=reply.id, data=data
    )


def about_conversation(event_type: EventType, conversation_id: UUID, **data: Any) -> LiveEvent:
    """An event about the conversation as a whole (`message_id` is null)."""
    return LiveEvent(type=event_type, conversation_id=conversation_id, message_id=None, data=data)


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
