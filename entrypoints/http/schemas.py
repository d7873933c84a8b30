"""Wire shapes of the HTTP API as msgspec Structs: requests are strict, responses documented."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from domain.conversations import MAX_TITLE_CHARS, Conversation
from domain.messages import MAX_CONTENT_CHARS, Message


class ConversationCreate(msgspec.Struct, forbid_unknown_fields=True):
    title: Annotated[str, Meta(max_length=MAX_TITLE_CHARS)] | None = None


class ConversationOut(msgspec.Struct):
    id: UUID
    title: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, conversation: Conversation) -> ConversationOut:
        return cls(
            id=conversation.id,
            title=conversation.title,
            created_at=conversation.created_at,
            updated_at=conversation.updated_at,
        )


class ConversationPage(msgspec.Struct):
    items: list[ConversationOut]
    next_before: UUID | None = None


class MessageCreate(msgspec.Struct, forbid_unknown_fields=True):
    content: Annotated[str, Meta(min_length=1, max_length=MAX_CONTENT_CHARS)]


class MessageOut(msgspec.Struct):
    id: UUID
    conversation_id: UUID
    role: Literal["user", "assistant", "system"]
    content: str
    status: Literal["streaming", "complete", "failed"]
    created_at: datetime

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        return cls(
            id=message.id,
            conversation_id=message.conversation_id,
            role=message.role.value,
            content=message.content,
            status=message.status.value,
            created_at=message.created_at,
        )


class MessagePage(msgspec.Struct):
    items: list[MessageOut]
    next_before: UUID | None = None


class MessageAcceptedOut(msgspec.Struct):
    message: MessageOut
    reply_id: UUID


class FieldProblem(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details."""

    title: str
    status: int
    detail: str | None = None
    type: str = "about:blank"
    errors: list[FieldProblem] = msgspec.field(default_factory=list)
