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


def test_a_turn_ends_only_on_completion_failure_or_a_question() -> None:
    terminal = [
        TurnCompleted(event_id=9, answer="done"),
        AgentFailed(event_id=9, code="tool_crashed", message="x"),
        QuestionAsked(event_id=9, question_id="q1", question="Which one?"),
    ]
    ongoing = [
        Thought(event_id=1, session_id="s1", text="hmm"),
        ToolStarted(event_id=2, call_id="c1", tool="search"),
        ToolFinished(event_id=3, call_id="c1", tool="search", ok=False),
        AnswerChunk(event_id=4, text="par"),
        UnknownAgentEvent(event_id=5, kind="PLAN", data={"steps": 3}),
    ]
    assert all(event.is_terminal for event in terminal)
    assert not any(event.is_terminal for event in ongoing)
