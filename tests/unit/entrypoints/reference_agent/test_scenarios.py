from __future__ import annotations

import pytest

from entrypoints.reference_agent.scenarios import MAX_LONG_CHUNKS, Turn, chunks, plan, quote
from entrypoints.reference_agent.wire import AnswerChunk, AskUser, Complete, Error, Thought


def events_of(text: str, **turn: object) -> list[str]:
    return [type(e).__name__ for e in plan(Turn(input=text, number=1, **turn)).events]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("search x", "Thought", "Complete"),
        ("AMBIGUOUS request", "Thought", "AskUser"),
        ("please clarify", "Thought", "AskUser"),
        ("fail", "Thought", "Error"),
        ("flaky", "Thought", "Error"),
        ("do you remember", "Thought", "Complete"),
        ("analyse file", "Thought", "Complete"),
        ("run code", "Thought", "Complete"),
        ("anything", "Thought", "Complete"),
        ("long 3", "AnswerChunk", "Complete"),
    ],
)
def test_every_script_ends_with_exactly_one_terminal_event(
    text: str, first: str, last: str
) -> None:
    script = plan(Turn(input=text, number=1))
    kinds = [type(e).__name__ for e in script.events]
    assert (kinds[0], kinds[-1]) == (first, last)
    assert [e.TERMINAL for e in script.events] == [False] * (len(kinds) - 1) + [True]


def test_the_first_matching_scenario_wins() -> None:
    assert events_of("long 2 ambiguous search") == ["AnswerChunk", "AnswerChunk", "Complete"]
    assert events_of("ambiguous search")[-1] == "AskUser"
    assert events_of("search and fail")[-1] == "Error"


@pytest.mark.parametrize("text", ["how long is it", "researching failures", "flakyness"])
def test_keywords_match_whole_words_only(text: str) -> None:
    first = plan(Turn(input=text, number=1)).events[0]
    assert isinstance(first, Thought) and first.text.startswith("A direct answer will do")


def test_long_is_capped() -> None:
    script = plan(Turn(input="long 999999", number=1))
    assert len(script.events) == MAX_LONG_CHUNKS + 1


def test_a_question_s_continuation_uses_the_answer() -> None:
    script = plan(Turn(input="ambiguous", number=1))
    assert isinstance(script.events[-1], AskUser) and script.on_answer is not None
    after = script.on_answer("code")
    assert isinstance(after.events[-1], Complete)
    text = "".join(e.text for e in after.events if isinstance(e, AnswerChunk))
    assert text.startswith("In code ")


def test_recall_quotes_the_earlier_inputs_of_the_session() -> None:
    script = plan(Turn(input="earlier?", number=3, earlier_inputs=("a", "b")))
    text = "".join(e.text for e in script.events if isinstance(e, AnswerChunk))
    assert text == "Earlier in this session you asked: “a”; then “b”."


def test_errors_say_whether_a_retry_may_help() -> None:
    failing = plan(Turn(input="fail", number=1)).events[-1]
    flaky = plan(Turn(input="flaky", number=1)).events[-1]
    assert isinstance(failing, Error) and isinstance(flaky, Error)
    assert (failing.retryable, flaky.retryable) == (False, True)


def test_chunks_join_back_to_the_text() -> None:
    text = "  two  spaces\tand “quotes” "
    assert "".join(c.text for c in chunks(text)) == text.lstrip()


def test_long_quotes_are_shortened() -> None:
    assert len(quote("x" * 1000)) == 200
    assert quote("a\n b") == "a b"
