"""ASK_USER pauses a turn until the answer resumes it; ERROR ends a turn and fails the
session's last run without losing the session."""

from __future__ import annotations

import msgspec

from tests.contract.schema import AskUserData, ErrorData, SessionStatus, check_run
from tests.contract.wire import ASK_INPUT, FAIL_INPUT, SIMPLE_INPUT, AgentHttp, body


async def test_a_question_pauses_the_run_and_the_answer_resumes_it(agent: AgentHttp) -> None:
    asked = await agent.run(ASK_INPUT)
    question = check_run(asked.events, first_id=1)[-1]
    assert isinstance(question, AskUserData)

    _, raw_state = await agent.status(asked.session_id)
    state = msgspec.convert(raw_state, SessionStatus)
    assert state.status == "AWAITING_USER" and state.last_event_id == asked.last.id
    assert state.pending_question is not None
    assert state.pending_question.question_id == question.question_id
    assert state.pending_question.question == question.question
    assert state.pending_question.choices == question.choices

    text = question.choices[0] if question.choices else "the first one"
    answer = {"question_id": question.question_id, "text": text}
    resumed = await agent.run("", session_id=asked.session_id, answer=answer)

    assert resumed.last.event == "COMPLETE"
    check_run(resumed.events, first_id=asked.last.id + 1)
    _, after = await agent.status(asked.session_id)
    assert (after["status"], after["pending_question"]) == ("COMPLETED", None)


async def test_an_answer_to_another_question_is_a_conflict(agent: AgentHttp) -> None:
    asked = await agent.run(ASK_INPUT)
    answer = {"question_id": "not-" + asked.last.data["question_id"], "text": "x"}
    async with agent.post_execute(body("", session_id=asked.session_id, answer=answer)) as refused:
        assert refused.status == 409
        assert (await refused.json(content_type=None))["code"] == "question_mismatch"


async def test_a_new_turn_while_a_question_is_pending_is_a_conflict(agent: AgentHttp) -> None:
    asked = await agent.run(ASK_INPUT)
    async with agent.post_execute(body(SIMPLE_INPUT, session_id=asked.session_id)) as refused:
        assert refused.status == 409
        assert (await refused.json(content_type=None))["code"] == "question_pending"


async def test_a_question_is_answered_once(agent: AgentHttp) -> None:
    asked = await agent.run(ASK_INPUT)
    answer = {"question_id": asked.last.data["question_id"], "text": "code"}
    await agent.run("", session_id=asked.session_id, answer=answer)

    async with agent.post_execute(body("", session_id=asked.session_id, answer=answer)) as again:
        assert again.status == 409
        assert (await again.json(content_type=None))["code"] == "no_pending_question"


async def test_a_failing_run_ends_with_one_error_and_the_session_takes_a_new_turn(
    agent: AgentHttp,
) -> None:
    failed = await agent.run(FAIL_INPUT)
    error = check_run(failed.events, first_id=1)[-1]
    assert isinstance(error, ErrorData) and error.code and error.message
    _, state = await agent.status(failed.session_id)
    assert state["status"] == "FAILED"

    next_turn = await agent.run(SIMPLE_INPUT, session_id=failed.session_id)

    assert next_turn.last.event == "COMPLETE"
    check_run(next_turn.events, first_id=failed.last.id + 1)
