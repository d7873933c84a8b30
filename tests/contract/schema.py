"""The contract's event data as msgspec Structs, written from docs/agent-service-contract.md
and independent of any implementation, plus the invariants every run must keep."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec


class _Data(msgspec.Struct, frozen=True, kw_only=True):
    session_id: str


class ThoughtData(_Data, frozen=True, kw_only=True):
    text: str


class ToolStartData(_Data, frozen=True, kw_only=True):
    call_id: str
    tool: str
    input: Any


class ToolEndData(_Data, frozen=True, kw_only=True):
    call_id: str
    tool: str
    output: Any
    status: Literal["ok", "error"]
    duration_ms: int | None = None


class AnswerChunkData(_Data, frozen=True, kw_only=True):
    text: str


class AskUserData(_Data, frozen=True, kw_only=True):
    question_id: str
    question: str
    choices: list[str] = msgspec.field(default_factory=list)
    expires_at: datetime | None = None


class CompleteData(_Data, frozen=True, kw_only=True):
    answer: str | None = None
    usage: dict[str, Any] | None = None


class ErrorData(_Data, frozen=True, kw_only=True):
    code: str
    message: str
    retryable: bool


SCHEMAS: dict[str, type[_Data]] = {
    "THOUGHT": ThoughtData,
    "TOOL_START": ToolStartData,
    "TOOL_END": ToolEndData,
    "ANSWER_CHUNK": AnswerChunkData,
    "ASK_USER": AskUserData,
    "COMPLETE": CompleteData,
    "ERROR": ErrorData,
}
TERMINAL = {"COMPLETE", "ERROR", "ASK_USER"}


class PendingQuestion(msgspec.Struct, frozen=True):
    question_id: str
    question: str
    choices: list[str]
    expires_at: datetime | None


class SessionStatus(msgspec.Struct, frozen=True):
    session_id: str
    status: Literal["RUNNING", "AWAITING_USER", "IDLE", "COMPLETED", "FAILED"]
    last_event_id: int
    pending_question: PendingQuestion | None


class Problem(msgspec.Struct, frozen=True):
    title: str
    status: int
    code: str
    detail: str
    errors: list[dict[str, str]] = msgspec.field(default_factory=list)


def typed(event: str, data: dict[str, Any]) -> _Data:
    """The event's data checked against its type's schema (strict: no coercion)."""
    return msgspec.convert(data, SCHEMAS[event])


def check_run(events: list[Any], first_id: int | None = None) -> list[_Data]:
    """Every invariant of one run's events: consecutive ids (from `first_id` when given), one
    session, each type's fields, tool ends after their starts, exactly one terminal event and
    it is the last, and COMPLETE's answer equal to the chunks."""
    assert events, "a run has at least its terminal event"
    ids = [e.id for e in events]
    start = ids[0] if first_id is None else first_id
    assert ids == list(range(start, start + len(ids))), ids
    checked = [typed(e.event, e.data) for e in events]
    assert len({d.session_id for d in checked}) == 1
    assert [e.event in TERMINAL for e in events] == [False] * (len(events) - 1) + [True]
    started: set[str] = set()
    for data in checked:
        if isinstance(data, ToolStartData):
            started.add(data.call_id)
        if isinstance(data, ToolEndData):
            assert data.call_id in started, "TOOL_END before its TOOL_START"
    last = checked[-1]
    if isinstance(last, CompleteData) and last.answer is not None:
        chunks = [d.text for d in checked if isinstance(d, AnswerChunkData)]
        assert last.answer == "".join(chunks)
    return checked
