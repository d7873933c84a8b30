"""Refusals: problem bodies with stable codes, a 400 naming the field, and nothing started."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest

from tests.contract.schema import Problem
from tests.contract.wire import (
    ASK_INPUT,
    EXECUTE,
    LONG_INPUT,
    SIMPLE_INPUT,
    USER,
    AgentHttp,
    body,
    read_stream,
)


async def refused(agent: AgentHttp, payload: Any, headers: dict[str, str] | None = None) -> Problem:
    async with agent.post_execute(payload, headers) as response:
        assert response.content_type == "application/problem+json"
        problem = msgspec.convert(await response.json(content_type=None), Problem)
        assert problem.status == response.status
        return problem


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", EXECUTE),
        ("GET", "/api/v1/agent/sessions/any"),
        ("GET", "/api/v1/agent/sessions/any/stream"),
        ("GET", "/api/v1/agent/sessions/any/events"),
    ],
)
@pytest.mark.parametrize("key", [None, "wrong-key"], ids=["missing", "wrong"])
async def test_every_endpoint_but_health_wants_the_api_key(
    agent: AgentHttp, method: str, path: str, key: str | None
) -> None:
    headers = {} if key is None else {"X-API-Key": key}
    async with agent.http.request(
        method, agent.base_url + path, json=body(SIMPLE_INPUT), headers=headers
    ) as response:
        assert response.status == 401
        assert response.content_type == "application/problem+json"
        problem = await response.json()
    assert problem["code"] == "unauthorized"
    assert agent.api_key not in str(problem)


def without(field: str) -> dict[str, Any]:
    payload = body(SIMPLE_INPUT)
    del payload[field]
    return payload


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (without("profile_name"), "profile_name"),
        (body(SIMPLE_INPUT, profile_name=""), "profile_name"),
        (body(SIMPLE_INPUT, profile_name="no spaces allowed"), "profile_name"),
        (without("input"), "input"),
        (body(7), "input"),
        (body("   "), "input"),
        (without("chat_history"), "chat_history"),
        (body(SIMPLE_INPUT, chat_history="hi"), "chat_history"),
        (
            body(SIMPLE_INPUT, chat_history=[{"role": "robot", "content": "x"}]),
            "chat_history[0].role",
        ),
        (body(SIMPLE_INPUT, chat_history=[{"role": "user"}]), "chat_history[0].content"),
        (without("user_context"), "user_context"),
        (body(SIMPLE_INPUT, user_context={"org_id": "o"}), "user_context.user_id"),
        (body(SIMPLE_INPUT, user_context={**USER, "org_id": ""}), "user_context.org_id"),
        (
            body(SIMPLE_INPUT, user_context={**USER, "permissions": "all"}),
            "user_context.permissions",
        ),
        (body(SIMPLE_INPUT, session_id=""), "session_id"),
        (body("", answer={"question_id": "q", "text": "a"}), "session_id"),
        (body(SIMPLE_INPUT, session_id="s", answer={"text": "a"}), "answer.question_id"),
        (body("x" * 100_001), "input"),
    ],
)
async def test_an_invalid_body_is_refused_naming_the_field(
    agent: AgentHttp, payload: dict[str, Any], field: str
) -> None:
    problem = await refused(agent, payload)
    assert (problem.status, problem.code) == (400, "invalid_request")
    assert problem.errors[0]["field"] == field


async def test_a_body_that_is_not_json_is_refused(agent: AgentHttp) -> None:
    async with agent.http.post(
        agent.base_url + EXECUTE, data=b"{not json", headers=agent.headers()
    ) as response:
        assert response.status == 400
        assert (await response.json(content_type=None))["code"] == "invalid_json"


async def test_a_body_over_two_megabytes_is_too_large(agent: AgentHttp) -> None:
    payload = body(SIMPLE_INPUT, chat_history=[{"role": "user", "content": "x" * 90_000}] * 24)
    problem = await refused(agent, payload)
    assert problem.status == 413


async def test_an_unknown_session_is_not_found(agent: AgentHttp) -> None:
    problem = await refused(agent, body(SIMPLE_INPUT, session_id="no-such-session"))
    assert (problem.status, problem.code) == (404, "session_not_found")


async def test_an_invalid_idempotency_key_is_refused_naming_the_header(agent: AgentHttp) -> None:
    problem = await refused(agent, body(SIMPLE_INPUT), {"Idempotency-Key": "k" * 256})
    assert problem.status == 400
    assert problem.errors[0]["field"] == "Idempotency-Key"


async def test_a_turn_while_a_run_is_in_progress_is_a_conflict(agent: AgentHttp) -> None:
    async with agent.post_execute(body(LONG_INPUT)) as response:
        started = await read_stream(response, limit=1)
        problem = await refused(agent, body(SIMPLE_INPUT, session_id=started.session_id))
    assert (problem.status, problem.code) == (409, "run_in_progress")


async def test_concurrent_turns_in_one_session_start_exactly_one_run(agent: AgentHttp) -> None:
    first = await agent.run(SIMPLE_INPUT)

    async def attempt() -> tuple[int, str | None]:
        async with agent.post_execute(body(LONG_INPUT, session_id=first.session_id)) as response:
            if response.status == 200:
                await read_stream(response, limit=1)
                return 200, None
            return response.status, (await response.json(content_type=None))["code"]

    results = await asyncio.gather(*(attempt() for _ in range(20)))

    assert sorted(results, key=str) == [(200, None)] + [(409, "run_in_progress")] * 19


async def test_an_answer_without_a_pending_question_is_a_conflict(agent: AgentHttp) -> None:
    run = await agent.run(SIMPLE_INPUT)
    answer = {"question_id": "never-asked", "text": "yes"}
    problem = await refused(agent, body("", session_id=run.session_id, answer=answer))
    assert (problem.status, problem.code) == (409, "no_pending_question")


async def test_an_unknown_path_is_a_problem_too(agent: AgentHttp) -> None:
    async with agent.get("/api/v1/agent/nowhere") as response:
        assert response.status == 404
        assert response.content_type == "application/problem+json"


async def test_errors_never_start_a_run(agent: AgentHttp) -> None:
    run = await agent.run(ASK_INPUT)
    await refused(agent, body(SIMPLE_INPUT, session_id=run.session_id))
    await refused(
        agent, body("", session_id=run.session_id, answer={"question_id": "x", "text": "a"})
    )
    _, state = await agent.status(run.session_id)
    assert (state["status"], state["last_event_id"]) == ("AWAITING_USER", run.last.id)
