"""Wire shapes of the HTTP API as msgspec Structs: requests are strict, responses documented."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from application.use_cases.answer_agent_question import MAX_ANSWER_CHARS
from domain.agent_sessions import AgentSession, SessionStatus
from domain.conversations import MAX_TITLE_CHARS, Conversation
from domain.messages import MAX_CONTENT_CHARS, AgentReplyInfo, Message


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


class ToolUseOut(msgspec.Struct):
    call_id: str
    tool: str
    status: Literal["running", "ok", "error"]
    duration_ms: int | None = None


class AgentInfoOut(msgspec.Struct):
    """What the agent did for a reply: its session, the tools it ran, the question it asked."""

    session_id: UUID | None
    tools: list[ToolUseOut]
    question_id: str | None = None

    @classmethod
    def of(cls, info: AgentReplyInfo) -> AgentInfoOut:
        tools = [ToolUseOut(u.call_id, u.tool, u.status.value, u.duration_ms) for u in info.tools]
        return cls(session_id=info.session_id, tools=tools, question_id=info.question_id)


class MessageOut(msgspec.Struct, omit_defaults=True):
    """A message; replies written by the agent add `agent` (absent on other messages)."""

    id: UUID
    conversation_id: UUID
    role: Literal["user", "assistant", "system"]
    content: str
    status: Literal["streaming", "complete", "failed"]
    created_at: datetime
    agent: AgentInfoOut | None = None

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        return cls(
            id=message.id,
            conversation_id=message.conversation_id,
            role=message.role.value,
            content=message.content,
            status=message.status.value,
            created_at=message.created_at,
            agent=AgentInfoOut.of(message.agent) if message.agent else None,
        )


class MessagePage(msgspec.Struct):
    items: list[MessageOut]
    next_before: UUID | None = None


class MessageAcceptedOut(msgspec.Struct):
    message: MessageOut
    reply_id: UUID
    route: Literal["llm", "agent"] = "llm"


class AgentAnswerIn(msgspec.Struct, forbid_unknown_fields=True):
    question_id: Annotated[str, Meta(min_length=1, max_length=200)]
    answer: Annotated[str, Meta(min_length=1, max_length=MAX_ANSWER_CHARS)]


class PendingQuestionOut(msgspec.Struct):
    question_id: str
    question: str
    choices: list[str]
    asked_at: datetime
    expires_at: datetime


class AgentSessionOut(msgspec.Struct):
    """The conversation's latest agent session."""

    id: UUID
    status: Literal["ACTIVE", "AWAITING_USER", "COMPLETED", "FAILED", "ABANDONED"]
    profile_name: str
    created_at: datetime
    last_interaction_at: datetime
    turn_running: bool
    pending_question: PendingQuestionOut | None = None

    @classmethod
    def of(cls, session: AgentSession) -> AgentSessionOut:
        question = session.question
        waiting = session.status is SessionStatus.AWAITING_USER and question is not None
        return cls(
            id=session.id,
            status=session.status.value,
            profile_name=session.profile_name,
            created_at=session.created_at,
            last_interaction_at=session.last_interaction_at,
            turn_running=session.turn_running,
            pending_question=PendingQuestionOut(
                question.question_id,
                question.text,
                list(question.choices),
                question.asked_at,
                question.expires_at,
            )
            if waiting and question
            else None,
        )


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
