"""The scripted ReAct engine's repertoire: the input text chooses a deterministic run.

Each scenario is a pure function of the turn: the same turn always gives the same script. The
table in docs/agent-service-contract.md ("Scripted scenarios") lists them; the first match wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from entrypoints.reference_agent.wire import (
    AnswerChunk,
    AskUser,
    Complete,
    Error,
    EventData,
    Thought,
    ToolEnd,
    ToolStart,
)

MAX_LONG_CHUNKS = 10_000
QUOTE_LIMIT = 200
SCOPES = ("documents", "code", "tickets")


@dataclass(frozen=True, slots=True)
class Turn:
    """What a scenario may look at: the input, the session's memory and the caller's history."""

    input: str
    number: int
    earlier_inputs: Sequence[str] = ()
    history_messages: int = 0


@dataclass(frozen=True, slots=True)
class Script:
    """A run's events in order, ending with a terminal one. When it ends with ASK_USER,
    `on_answer` gives the script of the run that continues after the answer."""

    events: tuple[EventData, ...]
    on_answer: Callable[[str], Script] | None = None


Scenario = Callable[[Turn], Script]


def plan(turn: Turn) -> Script:
    """The script for a turn: the first scenario whose pattern occurs in the input."""
    text = turn.input.lower()
    if match := _LONG.search(text):
        return _long(min(int(match.group(1)), MAX_LONG_CHUNKS))
    for pattern, scenario in _SCENARIOS:
        if pattern.search(text):
            return scenario(turn)
    return _direct(turn)


def chunks(text: str) -> list[AnswerChunk]:
    """`text` as answer chunks of one word each, spaces kept, so they join back exactly."""
    return [AnswerChunk(text=word) for word in re.findall(r"\S+\s*", text)]


def quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_LIMIT else text[: QUOTE_LIMIT - 1] + "…"


def _script(*parts: EventData | list[AnswerChunk]) -> tuple[EventData, ...]:
    flat: list[EventData] = []
    for part in parts:
        flat.extend(part if isinstance(part, list) else [part])
    return tuple(flat)


def _call(turn: Turn, n: int) -> str:
    return f"call-{turn.number}-{n}"


def _long(count: int) -> Script:
    parts = [AnswerChunk(text=f"part {n} ") for n in range(1, max(count, 1) + 1)]
    return Script((*parts, Complete()))


def _search(turn: Turn) -> Script:
    query = quote(turn.input)
    titles = [f"{query}: overview", f"{query}: how-to", f"{query}: FAQ"]
    return Script(
        _script(
            Thought(text=f"The user wants me to search for “{query}”. I will use the search tool."),
            ToolStart(call_id=_call(turn, 1), tool="search", input={"query": query}),
            ToolEnd(
                call_id=_call(turn, 1),
                tool="search",
                output={"results": len(titles), "titles": titles},
                status="ok",
            ),
            chunks(
                f"I found {len(titles)} results for “{query}”: an overview, a how-to and an FAQ. "
                "The how-to is the best place to start."
            ),
            Complete(),
        )
    )


def _ambiguous(turn: Turn) -> Script:
    request = quote(turn.input)

    def after_answer(answer: str) -> Script:
        scope = quote(answer)
        return Script(
            _script(
                Thought(text=f"The user chose “{scope}”. I will search there."),
                ToolStart(
                    call_id=_call(turn, 1), tool="search", input={"query": request, "scope": scope}
                ),
                ToolEnd(
                    call_id=_call(turn, 1),
                    tool="search",
                    output={"results": 2, "scope": scope},
                    status="ok",
                ),
                chunks(f"In {scope} I found 2 matches for “{request}”. The first one fits best."),
                Complete(),
            )
        )

    return Script(
        _script(
            Thought(text=f"“{request}” could mean several things; I need to ask where to look."),
            AskUser(
                question="Where should I look: documents, code or tickets?", choices=list(SCOPES)
            ),
        ),
        on_answer=after_answer,
    )


def _fail(turn: Turn) -> Script:
    query = quote(turn.input)
    return Script(
        _script(
            Thought(text="I will look this up with the search tool."),
            ToolStart(call_id=_call(turn, 1), tool="search", input={"query": query}),
            ToolEnd(
                call_id=_call(turn, 1),
                tool="search",
                output={"error": "search backend answered 502"},
                status="error",
            ),
            Error(
                code="tool_failed",
                message="the search tool failed: its backend answered 502",
                retryable=False,
            ),
        )
    )


def _flaky(_: Turn) -> Script:
    return Script(
        _script(
            Thought(text="Calling the model provider."),
            Error(
                code="upstream_unavailable",
                message="the model provider is unavailable; try the turn again",
                retryable=True,
            ),
        )
    )


def _recall(turn: Turn) -> Script:
    if turn.earlier_inputs:
        asked = "; then ".join(f"“{quote(text)}”" for text in turn.earlier_inputs)
        answer = f"Earlier in this session you asked: {asked}."
    else:
        answer = "This is the first turn of this session: there is nothing earlier to recall."
    return Script(
        _script(
            Thought(text="Looking back at this session's earlier turns."),
            chunks(answer),
            Complete(),
        )
    )


def _analyze_file(turn: Turn) -> Script:
    return Script(
        _script(
            Thought(text="I need to read the file before I can analyze it."),
            ToolStart(call_id=_call(turn, 1), tool="read_file", input={"path": "report.csv"}),
            ToolEnd(
                call_id=_call(turn, 1),
                tool="read_file",
                output={"bytes": 2048, "lines": 42},
                status="ok",
            ),
            Thought(text="The file is a table of 42 lines. Now I analyze its columns."),
            ToolStart(call_id=_call(turn, 2), tool="analyze", input={"lines": 42}),
            ToolEnd(
                call_id=_call(turn, 2),
                tool="analyze",
                output={"rows": 41, "columns": 3, "missing_values": 0},
                status="ok",
            ),
            chunks(
                "The file has 41 data rows in 3 columns and no missing values. "
                "The third column rises steadily from first row to last."
            ),
            Complete(),
        )
    )


def _run_code(turn: Turn) -> Script:
    code = "print(sum(range(10)))"
    return Script(
        _script(
            Thought(text="Running the code in the sandbox will answer this."),
            ToolStart(
                call_id=_call(turn, 1), tool="run_code", input={"language": "python", "code": code}
            ),
            ToolEnd(
                call_id=_call(turn, 1),
                tool="run_code",
                output={"stdout": "45\n", "exit_code": 0},
                status="ok",
            ),
            chunks("The code ran without errors and printed 45."),
            Complete(),
        )
    )


def _direct(turn: Turn) -> Script:
    answer = f"You said: {quote(turn.input)}"
    if turn.history_messages:
        answer += f" (I can see {turn.history_messages} earlier messages of the conversation.)"
    return Script(
        _script(
            Thought(text="A direct answer will do; no tools needed."), chunks(answer), Complete()
        )
    )


_LONG = re.compile(r"\blong\s+(\d{1,6})\b")
_SCENARIOS: tuple[tuple[re.Pattern[str], Scenario], ...] = (
    (re.compile(r"\b(ambiguous|clarify)\b"), _ambiguous),
    (re.compile(r"\bfail\b"), _fail),
    (re.compile(r"\bflaky\b"), _flaky),
    (re.compile(r"\b(earlier|remember)\b"), _recall),
    (re.compile(r"\banaly[sz]e file\b"), _analyze_file),
    (re.compile(r"\brun code\b"), _run_code),
    (re.compile(r"\bsearch\b"), _search),
)
