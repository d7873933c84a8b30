from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from domain.agent_sessions import (
    AgentSession,
    AnswerConflict,
    NoPendingQuestion,
    PendingQuestion,
    QuestionExpired,
    QuestionMismatch,
    QuestionPending,
    SessionStatus,
    TurnAlreadyRunning,
)
from domain.errors import IllegalTransition

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def session() -> AgentSession:
    return AgentSession.open(UUID(int=1), UUID(int=2), "default", T0)


def question(expires_in: float = 300) -> PendingQuestion:
    return PendingQuestion("q1", "Which one?", at(1), at(1 + expires_in), ("a", "b"))


def awaiting() -> AgentSession:
    s = session()
    s.ask(question(), at(1))
    return s


def test_a_new_session_is_live_with_its_first_turn_running() -> None:
    s = session()
    assert s.status is SessionStatus.ACTIVE and s.is_live and s.turn_running
    assert s.agent_session_id is None and s.last_event_id == 0


def test_a_second_turn_cannot_start_while_one_runs() -> None:
    s = session()
    with pytest.raises(TurnAlreadyRunning):
        s.begin_turn(at(1))


def test_a_session_spans_many_turns() -> None:
    s = session()
    s.end_turn(at(1))
    s.begin_turn(at(2))
    s.end_turn(at(3))
    assert s.status is SessionStatus.ACTIVE and not s.turn_running
    assert s.last_interaction_at == at(3)


def test_a_session_is_ready_for_a_turn_only_when_begin_turn_would_succeed() -> None:
    running, idle, waiting, ended = session(), session(), awaiting(), session()
    idle.end_turn(at(1))
    ended.complete(at(1))
    assert [s.ready_for_turn for s in (running, idle, waiting, ended)] == [
        False,
        True,
        False,
        False,
    ]
    idle.begin_turn(at(2))
    assert not idle.ready_for_turn


def test_progress_never_moves_the_event_id_backwards() -> None:
    s = session()
    s.record_event(7, at(1))
    s.record_event(5, at(2))
    assert s.last_event_id == 7 and s.last_interaction_at == at(2)


def test_the_agent_session_id_is_bound_once() -> None:
    s = session()
    s.bind("agent-1")
    s.bind("agent-1")
    with pytest.raises(IllegalTransition):
        s.bind("agent-2")


def test_a_question_pauses_the_turn_until_answered() -> None:
    s = awaiting()
    assert s.status is SessionStatus.AWAITING_USER and not s.turn_running and s.is_live
    with pytest.raises(QuestionPending):
        s.begin_turn(at(2))
    assert s.answer("q1", "a", at(2)) is True
    assert s.status is SessionStatus.ACTIVE and s.turn_running
    assert s.question is not None and s.question.answer == "a"


def test_the_same_answer_twice_is_accepted_once() -> None:
    s = awaiting()
    assert s.answer("q1", "a", at(2)) is True
    assert s.answer("q1", "a", at(3)) is False
    with pytest.raises(AnswerConflict):
        s.answer("q1", "b", at(3))


def test_an_answer_without_a_question_or_to_another_question_is_refused() -> None:
    with pytest.raises(NoPendingQuestion):
        session().answer("q1", "a", at(1))
    with pytest.raises(QuestionMismatch):
        awaiting().answer("q2", "a", at(2))


def test_a_late_answer_abandons_the_session() -> None:
    s = awaiting()
    assert s.question_expired(at(301))
    with pytest.raises(QuestionExpired):
        s.answer("q1", "a", at(301))
    assert s.status is SessionStatus.ABANDONED and not s.is_live
    with pytest.raises(QuestionExpired):
        s.answer("q1", "a", at(302))


def test_an_answer_to_an_ended_session_names_no_pending_question() -> None:
    s = awaiting()
    s.complete(at(2))
    with pytest.raises(NoPendingQuestion):
        s.answer("q1", "a", at(3))


def test_an_idle_session_is_due_to_complete_but_not_while_a_turn_runs() -> None:
    s = session()
    assert not s.is_idle(at(3600), timedelta(minutes=30))
    s.end_turn(at(1))
    assert not s.is_idle(at(60), timedelta(minutes=30))
    assert s.is_idle(at(1801), timedelta(minutes=30))
    s.complete(at(1801))
    assert s.status is SessionStatus.COMPLETED and not s.is_live


def test_the_user_may_end_a_session_waiting_for_an_answer() -> None:
    s = awaiting()
    s.complete(at(2))
    assert s.status is SessionStatus.COMPLETED


def test_a_non_retryable_error_fails_the_session() -> None:
    s = session()
    s.fail(at(1))
    assert s.status is SessionStatus.FAILED and not s.turn_running


@pytest.mark.parametrize(
    "move",
    [
        lambda s: s.begin_turn(at(9)),
        lambda s: s.record_event(1, at(9)),
        lambda s: s.end_turn(at(9)),
        lambda s: s.ask(question(), at(9)),
        lambda s: s.complete(at(9)),
        lambda s: s.fail(at(9)),
        lambda s: s.abandon(at(9)),
    ],
)
@pytest.mark.parametrize("end", ["complete", "fail"])
def test_an_ended_session_refuses_every_move(move, end) -> None:  # type: ignore[no-untyped-def]
    s = session()
    getattr(s, end)(at(1))
    with pytest.raises(IllegalTransition):
        move(s)


def test_only_a_waiting_session_can_be_abandoned() -> None:
    with pytest.raises(IllegalTransition):
        session().abandon(at(1))
