"""The wire: request bodies and event data as msgspec Structs (docs/agent-service-contract.md).

Event data Structs name their SSE event type and whether it ends a run. Scripts build them
without `session_id`; the engine fills it in before they are written to a session's log.
`omit_defaults` drops only the optional fields the contract allows to be absent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import Meta

Identifier = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
Name = Annotated[str, Meta(min_length=1, max_length=200)]


class HistoryItem(msgspec.Struct, frozen=True):
    role: Literal["user", "assistant", "system", "tool"]
    content: Annotated[str, Meta(max_length=100_000)]


class UserContextBody(msgspec.Struct, frozen=True):
    user_id: Name
    org_id: Name
    permissions: Annotated[list[Name], Meta(max_length=200)] = msgspec.field(default_factory=list)


class AnswerBody(msgspec.Struct, frozen=True):
    question_id: Identifier
    text: Annotated[str, Meta(max_length=10_000)]


class ExecuteBody(msgspec.Struct, frozen=True, kw_only=True):
    profile_name: Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")]
    input: Annotated[str, Meta(max_length=100_000)]
    chat_history: Annotated[list[HistoryItem], Meta(max_length=1000)]
    user_context: UserContextBody
    session_id: Identifier | None = None
    answer: AnswerBody | None = None


class EventData(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    EVENT: ClassVar[str] = ""
    TERMINAL: ClassVar[bool] = False

    session_id: str = ""


class Thought(EventData, frozen=True, kw_only=True, omit_defaults=True):
    EVENT: ClassVar[str] = "THOUGHT"
    text: str


class ToolStart(EventData, frozen=True, kw_only=True, omit_defaults=True):
    EVENT: ClassVar[str] = "TOOL_START"
    call_id: str
    tool: str
    input: Any


class ToolEnd(EventData, frozen=True, kw_only=True, omit_defaults=True):
    EVENT: ClassVar[str] = "TOOL_END"
    call_id: str
    tool: str
    output: Any
    status: Literal["ok", "error"]
    duration_ms: int | None = None


class AnswerChunk(EventData, frozen=True, kw_only=True, omit_defaults=True):
    EVENT: ClassVar[str] = "ANSWER_CHUNK"
    text: str


class AskUser(EventData, frozen=True, kw_only=True, omit_defaults=True):
    EVENT: ClassVar[str] = "ASK_USER"
    TERMINAL: ClassVar[bool] = True
    question_id: str = ""
    question: str
    choices: list[str] = msgspec.field(default_factory=list)
    expires_at: str | None = None


class Complete(EventData, frozen=True, kw_only=True, omit_defaults=True):
    EVENT: ClassVar[str] = "COMPLETE"
    TERMINAL: ClassVar[bool] = True
    answer: str | None = None
    usage: dict[str, int] | None = None


class Error(EventData, frozen=True, kw_only=True, omit_defaults=True):
    EVENT: ClassVar[str] = "ERROR"
    TERMINAL: ClassVar[bool] = True
    code: str
    message: str
    retryable: bool


class PendingQuestionBody(msgspec.Struct, frozen=True):
    question_id: str
    question: str
    choices: list[str]
    expires_at: str


class SessionStatusBody(msgspec.Struct, frozen=True, kw_only=True):
    session_id: str
    status: str
    profile_name: str
    last_event_id: int
    pending_question: PendingQuestionBody | None
    created_at: str
    updated_at: str


class PolledEvent(msgspec.Struct, frozen=True):
    id: int
    event: str
    data: msgspec.Raw


class PollBody(msgspec.Struct, frozen=True, kw_only=True):
    session_id: str
    status: str
    last_event_id: int
    events: list[PolledEvent]
    ended: bool


class FieldProblem(msgspec.Struct, frozen=True):
    field: str
    message: str


class ProblemBody(msgspec.Struct, frozen=True, kw_only=True):
    type: str = "about:blank"
    title: str
    status: int
    code: str
    detail: str
    errors: list[FieldProblem] = msgspec.field(default_factory=list)


def rfc3339(moment: datetime) -> str:
    """A UTC timestamp as the contract writes it: milliseconds and a `Z`."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
