"""The Agent Service's wire format as msgspec Structs (docs/agent-service-contract.md).

Request bodies are encoded from these; responses and event `data` are decoded into them and
mapped to domain values in `events.py`. Fields the contract may add later are ignored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta


class WireTurn(msgspec.Struct):
    role: str
    content: str


class WireUserContext(msgspec.Struct):
    user_id: str
    org_id: str
    permissions: list[str]


class WireAnswer(msgspec.Struct):
    question_id: str
    text: str


class ExecuteBody(msgspec.Struct, omit_defaults=True):
    profile_name: str
    input: str
    chat_history: list[WireTurn]
    user_context: WireUserContext
    session_id: str | None = None
    answer: WireAnswer | None = None


class ThoughtData(msgspec.Struct):
    text: str
    session_id: str | None = None


class ToolStartData(msgspec.Struct):
    call_id: str
    tool: str
    input: Any = None
    session_id: str | None = None


class ToolEndData(msgspec.Struct):
    call_id: str
    tool: str
    status: Literal["ok", "error"]
    output: Any = None
    session_id: str | None = None


class AnswerChunkData(msgspec.Struct):
    text: str
    session_id: str | None = None


class AskUserData(msgspec.Struct):
    question_id: str
    question: str
    choices: list[str] = msgspec.field(default_factory=list)
    expires_at: datetime | None = None
    session_id: str | None = None


class CompleteData(msgspec.Struct):
    answer: str | None = None
    usage: dict[str, Any] = msgspec.field(default_factory=dict)
    session_id: str | None = None


class ErrorData(msgspec.Struct):
    code: str
    message: str
    retryable: bool = False
    session_id: str | None = None


class UnknownData(msgspec.Struct):
    session_id: str | None = None


class PolledEvent(msgspec.Struct):
    id: Annotated[int, Meta(ge=1)]
    event: str
    data: msgspec.Raw


class EventPage(msgspec.Struct):
    events: list[PolledEvent]
    ended: bool


class SessionStatus(msgspec.Struct):
    session_id: str
    status: Literal["RUNNING", "AWAITING_USER", "IDLE", "COMPLETED", "FAILED"]
    last_event_id: int = 0
    pending_question: AskUserData | None = None


class Problem(msgspec.Struct):
    """An RFC 9457 problem body; only what the client reports is read."""

    title: str | None = None
    detail: str | None = None
    code: str | None = None
