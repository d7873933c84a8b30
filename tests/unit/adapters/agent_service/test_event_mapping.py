"""Agent Service events become domain values at the adapter's edge."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters.agent_service.events import decode_event, event_id_of
from application.ports.agent_gateway import AgentProtocolError
from domain.agent_events import (
    AgentFailed,
    AnswerChunk,
    QuestionAsked,
    Thought,
    ToolFinished,
    ToolStarted,
    TurnCompleted,
    UnknownAgentEvent,
)


def data(**fields: object) -> str:
    return json.dumps({"session_id": "s-1", **fields})


def test_every_known_type_maps_to_its_domain_value() -> None:
    assert decode_event("THOUGHT", 1, data(text="hmm")) == Thought(
        event_id=1, session_id="s-1", text="hmm"
    )
    assert decode_event("TOOL_START", 2, data(call_id="c", tool="search", input={"q": 1})) == (
        ToolStarted(event_id=2, session_id="s-1", call_id="c", tool="search", input={"q": 1})
    )
    assert decode_event(
        "TOOL_END", 3, data(call_id="c", tool="search", output="x", status="error")
    ) == ToolFinished(
        event_id=3, session_id="s-1", call_id="c", tool="search", output="x", ok=False
    )
    assert decode_event("ANSWER_CHUNK", 4, data(text="Hel")) == AnswerChunk(
        event_id=4, session_id="s-1", text="Hel"
    )
    assert decode_event("COMPLETE", 5, data(answer="Hel", usage={"total_tokens": 3})) == (
        TurnCompleted(event_id=5, session_id="s-1", answer="Hel", usage={"total_tokens": 3})
    )
    assert decode_event("ERROR", 6, data(code="x", message="m", retryable=True)) == AgentFailed(
        event_id=6, session_id="s-1", code="x", message="m", retryable=True
    )


def test_a_question_keeps_its_choices_and_expiry() -> None:
    event = decode_event(
        "ASK_USER",
        7,
        data(
            question_id="q",
            question="Where?",
            choices=["a", "b"],
            expires_at="2025-06-01T12:05:00.000Z",
        ),
    )
    assert event == QuestionAsked(
        event_id=7,
        session_id="s-1",
        question_id="q",
        question="Where?",
        choices=("a", "b"),
        expires_at=datetime(2025, 6, 1, 12, 5, tzinfo=UTC),
    )
    assert event.is_terminal


def test_fields_added_later_are_ignored() -> None:
    event = decode_event("TOOL_END", 3, data(call_id="c", tool="t", status="ok", duration_ms=5))
    assert isinstance(event, ToolFinished) and event.ok


def test_the_known_session_stands_in_when_data_names_none() -> None:
    assert decode_event("THOUGHT", 1, '{"text": "x"}', "s-9").session_id == "s-9"


def test_an_unknown_type_is_a_typed_unknown_event() -> None:
    event = decode_event("PROGRESS", 8, data(percent=40))
    assert event == UnknownAgentEvent(
        event_id=8, session_id="s-1", kind="PROGRESS", data={"session_id": "s-1", "percent": 40}
    )
    assert not event.is_terminal


def test_data_that_is_not_json_is_a_protocol_error_naming_the_event() -> None:
    with pytest.raises(
        AgentProtocolError, match=r"ANSWER_CHUNK event 4: bad data: Input data was truncated"
    ):
        decode_event("ANSWER_CHUNK", 4, '{"session_id": "s-1", "te')


def test_a_missing_field_is_a_protocol_error_naming_the_field() -> None:
    with pytest.raises(AgentProtocolError, match=r"ANSWER_CHUNK event 4: .*`text`"):
        decode_event("ANSWER_CHUNK", 4, data())


def test_a_wrong_type_is_a_protocol_error_naming_the_path() -> None:
    with pytest.raises(AgentProtocolError, match=r"\$\.status"):
        decode_event("TOOL_END", 4, data(call_id="c", tool="t", status="maybe"))


def test_unknown_types_still_need_json_object_data() -> None:
    with pytest.raises(AgentProtocolError, match="PROGRESS event 8"):
        decode_event("PROGRESS", 8, "[1, 2]")


@pytest.mark.parametrize("raw", ["", "0", "-1", "1.0", "abc", "07", "٣"])
def test_an_event_id_must_be_a_positive_decimal_integer(raw: str) -> None:
    with pytest.raises(AgentProtocolError, match="is not a positive integer"):
        event_id_of(raw)


def test_event_ids_are_read_as_integers() -> None:
    assert event_id_of("123") == 123
