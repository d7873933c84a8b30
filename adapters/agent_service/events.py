"""Agent Service events mapped to domain values, at the adapter's edge.

Each known event type has its own msgspec decoder for its `data`; the result becomes one of the
values in `domain/agent_events.py`. An unknown type becomes an `UnknownAgentEvent`; anything
that breaks the contract (an id that is not a positive integer, data that is not JSON or lacks
a required field) raises `AgentProtocolError` saying what was wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from adapters.agent_service import wire
from application.ports.agent_gateway import AgentProtocolError
from domain.agent_events import (
    AgentEvent,
    AgentFailed,
    AnswerChunk,
    QuestionAsked,
    Thought,
    ToolFinished,
    ToolStarted,
    TurnCompleted,
    UnknownAgentEvent,
)

_Build = Callable[[Any, int, str | None], AgentEvent]


def _thought(d: wire.ThoughtData, event_id: int, session: str | None) -> AgentEvent:
    return Thought(event_id=event_id, session_id=d.session_id or session, text=d.text)


def _tool_started(d: wire.ToolStartData, event_id: int, session: str | None) -> AgentEvent:
    return ToolStarted(
        event_id=event_id,
        session_id=d.session_id or session,
        call_id=d.call_id,
        tool=d.tool,
        input=d.input,
    )


def _tool_finished(d: wire.ToolEndData, event_id: int, session: str | None) -> AgentEvent:
    return ToolFinished(
        event_id=event_id,
        session_id=d.session_id or session,
        call_id=d.call_id,
        tool=d.tool,
        output=d.output,
        ok=d.status == "ok",
    )


def _answer_chunk(d: wire.AnswerChunkData, event_id: int, session: str | None) -> AgentEvent:
    return AnswerChunk(event_id=event_id, session_id=d.session_id or session, text=d.text)


def question(d: wire.AskUserData, event_id: int, session: str | None = None) -> QuestionAsked:
    return QuestionAsked(
        event_id=event_id,
        session_id=d.session_id or session,
        question_id=d.question_id,
        question=d.question,
        choices=tuple(d.choices),
        expires_at=d.expires_at,
    )


def _completed(d: wire.CompleteData, event_id: int, session: str | None) -> AgentEvent:
    return TurnCompleted(
        event_id=event_id, session_id=d.session_id or session, answer=d.answer, usage=d.usage
    )


def _failed(d: wire.ErrorData, event_id: int, session: str | None) -> AgentEvent:
    return AgentFailed(
        event_id=event_id,
        session_id=d.session_id or session,
        code=d.code,
        message=d.message,
        retryable=d.retryable,
    )


_KNOWN: dict[str, tuple[Callable[[str | bytes], Any], _Build]] = {
    kind: (msgspec.json.Decoder(struct).decode, build)
    for kind, struct, build in (
        ("THOUGHT", wire.ThoughtData, _thought),
        ("TOOL_START", wire.ToolStartData, _tool_started),
        ("TOOL_END", wire.ToolEndData, _tool_finished),
        ("ANSWER_CHUNK", wire.AnswerChunkData, _answer_chunk),
        ("ASK_USER", wire.AskUserData, question),
        ("COMPLETE", wire.CompleteData, _completed),
        ("ERROR", wire.ErrorData, _failed),
    )
}
_decode_object = msgspec.json.Decoder(dict[str, Any]).decode


def event_id_of(raw: str) -> int:
    """An SSE `id` as the contract writes it: a positive integer in decimal."""
    if not (raw.isascii() and raw.isdigit()) or raw.startswith("0"):
        raise AgentProtocolError(f"event id {raw[:40]!r} is not a positive integer")
    return int(raw)


def decode_event(
    kind: str, event_id: int, data: str | bytes, session_id: str | None = None
) -> AgentEvent:
    """The domain value of one wire event; raises AgentProtocolError naming what was wrong.
    `session_id` stands in for the session of an event whose data does not name it."""
    known = _KNOWN.get(kind)
    try:
        if known is None:
            return _unknown(kind, event_id, data, session_id)
        decode, build = known
        return build(decode(data), event_id, session_id)
    except msgspec.DecodeError as error:
        raise AgentProtocolError(f"{kind[:40]} event {event_id}: bad data: {error}") from None


def _unknown(kind: str, event_id: int, data: str | bytes, session: str | None) -> AgentEvent:
    fields = _decode_object(data)
    named = fields.get("session_id")
    return UnknownAgentEvent(
        event_id=event_id,
        session_id=named if isinstance(named, str) and named else session,
        kind=kind,
        data=fields,
    )
