"""The reference Agent Service beyond the contract: its scripted scenarios, session memory,
pacing, bounds and counters (docs/agent-service-contract.md, "Testing")."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

import pytest

from tests.contract.conftest import KEY, StartReference
from tests.contract.schema import check_run
from tests.contract.wire import AgentHttp, Event, body, read_for, read_stream

pytestmark = pytest.mark.reference_only


def shape(events: list[Event]) -> list[str]:
    """Event types with each run of ANSWER_CHUNKs folded into one `ANSWER_CHUNK+`."""
    folded: list[str] = []
    for event in events:
        name = event.event + ("+" if event.event == "ANSWER_CHUNK" else "")
        if not folded or folded[-1] != name or name != "ANSWER_CHUNK+":
            folded.append(name)
    return folded


def tools(events: list[Event]) -> list[tuple[str, str]]:
    return [
        (e.data["tool"], e.data.get("status", "")) for e in events if e.event.startswith("TOOL")
    ]


@pytest.mark.parametrize(
    ("text", "expected", "used"),
    [
        (
            "search the docs for VPN",
            ["THOUGHT", "TOOL_START", "TOOL_END", "ANSWER_CHUNK+", "COMPLETE"],
            [("search", ""), ("search", "ok")],
        ),
        (
            "please analyze file report.csv",
            [*["THOUGHT", "TOOL_START", "TOOL_END"] * 2, "ANSWER_CHUNK+", "COMPLETE"],
            [("read_file", ""), ("read_file", "ok"), ("analyze", ""), ("analyze", "ok")],
        ),
        (
            "Run code for me",
            ["THOUGHT", "TOOL_START", "TOOL_END", "ANSWER_CHUNK+", "COMPLETE"],
            [("run_code", ""), ("run_code", "ok")],
        ),
        (
            "search and then fail",
            ["THOUGHT", "TOOL_START", "TOOL_END", "ERROR"],
            [("search", ""), ("search", "error")],
        ),
        ("a flaky one", ["THOUGHT", "ERROR"], []),
        ("hello there", ["THOUGHT", "ANSWER_CHUNK+", "COMPLETE"], []),
        ("this is ambiguous", ["THOUGHT", "ASK_USER"], []),
    ],
)
async def test_the_input_chooses_a_scripted_scenario(
    reference: AgentHttp, text: str, expected: list[str], used: list[tuple[str, str]]
) -> None:
    run = await reference.run(text)
    check_run(run.events, first_id=1)
    assert shape(run.events) == expected
    assert tools(run.events) == used


async def test_a_search_answers_in_at_least_three_chunks(reference: AgentHttp) -> None:
    run = await reference.run("search the docs")
    assert sum(e.event == "ANSWER_CHUNK" for e in run.events) >= 3


@pytest.mark.parametrize(
    ("text", "code", "retryable"),
    [("fail now", "tool_failed", False), ("flaky", "upstream_unavailable", True)],
)
async def test_failing_scenarios_say_whether_to_retry(
    reference: AgentHttp, text: str, code: str, retryable: bool
) -> None:
    run = await reference.run(text)
    assert (run.last.data["code"], run.last.data["retryable"]) == (code, retryable)


async def test_long_n_streams_n_numbered_chunks(reference: AgentHttp) -> None:
    run = await reference.run("long 7")
    assert [e.data.get("text") for e in run.events[:-1]] == [f"part {n} " for n in range(1, 8)]
    assert run.last.data["answer"] == "".join(f"part {n} " for n in range(1, 8))


async def test_scenarios_are_deterministic(reference: AgentHttp) -> None:
    first, second = await reference.run("run code"), await reference.run("run code")

    def content(event: Event) -> tuple[str, dict[str, object]]:
        data = {k: v for k, v in event.data.items() if k not in ("session_id", "duration_ms")}
        return event.event, data

    assert [content(e) for e in first.events] == [content(e) for e in second.events]


async def test_the_answer_to_a_question_steers_the_rest_of_the_turn(reference: AgentHttp) -> None:
    asked = await reference.run("this is ambiguous")
    assert asked.last.data["choices"] == ["documents", "code", "tickets"]
    answer = {"question_id": asked.last.data["question_id"], "text": "tickets"}

    resumed = await reference.run("", session_id=asked.session_id, answer=answer)

    search = next(e for e in resumed.events if e.event == "TOOL_START")
    assert search.data["input"] == {"query": "this is ambiguous", "scope": "tickets"}
    assert "tickets" in resumed.last.data["answer"]


async def test_a_later_turn_remembers_the_earlier_ones_of_its_session(
    reference: AgentHttp,
) -> None:
    first = await reference.run("search cats")
    await reference.run("run code", session_id=first.session_id)

    recall = await reference.run(
        "what did I ask earlier?",
        session_id=first.session_id,
        chat_history=[{"role": "user", "content": "something else entirely"}],
    )
    fresh = await reference.run("what did I ask earlier?")

    assert "“search cats”; then “run code”" in recall.last.data["answer"]
    assert "something else" not in recall.last.data["answer"]
    assert "nothing earlier" in fresh.last.data["answer"]


async def test_the_direct_answer_sees_the_chat_history_and_counts_usage(
    reference: AgentHttp,
) -> None:
    history = [{"role": "user", "content": "one two"}, {"role": "assistant", "content": "three"}]
    run = await reference.run("hello agent", chat_history=history)

    assert run.last.data["answer"].startswith("You said: hello agent")
    assert "2 earlier messages" in run.last.data["answer"]
    usage = run.last.data["usage"]
    assert usage["input_tokens"] == 5
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


async def test_tool_ends_report_how_long_the_tool_ran(reference: AgentHttp) -> None:
    run = await reference.execute(body("run code"), {"X-Pace-Event-Delay-Ms": "50"})
    end = next(e for e in run.events if e.event == "TOOL_END")
    assert end.data["duration_ms"] >= 40


async def test_streams_send_heartbeats_between_slow_events(reference: AgentHttp) -> None:
    run = await reference.execute(
        body("long 3"), {"X-Pace-Event-Delay-Ms": "300", "X-Pace-Heartbeat-Ms": "30"}
    )
    check_run(run.events, first_id=1)
    assert run.heartbeats >= 3


async def test_the_first_event_waits_for_its_pacing(reference: AgentHttp) -> None:
    headers = {"X-Pace-First-Event-Ms": "1000"}
    async with reference.post_execute(body("hello"), headers) as response:
        assert await read_for(response, 0.4) == b""
        assert b"id: 1\n" in await response.content.read()


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not await check():
            await asyncio.sleep(0.05)


async def test_an_unanswered_question_expires_and_the_session_becomes_idle(
    start_reference: StartReference,
) -> None:
    agent, _ = await start_reference(question_ttl_s=0.3)
    asked = await agent.run("ambiguous")

    async def idle() -> bool:
        return (await agent.status(asked.session_id))[1]["status"] == "IDLE"

    await until(idle)
    answer = {"question_id": asked.last.data["question_id"], "text": "code"}
    late = await agent.execute(body("", session_id=asked.session_id, answer=answer))
    assert (late.status, late.body["code"]) == (409, "question_expired")
    assert (await agent.status(asked.session_id))[1]["pending_question"] is None
    assert (await agent.run("hello", session_id=asked.session_id)).last.event == "COMPLETE"


async def test_idle_sessions_are_forgotten_but_running_ones_are_kept(
    start_reference: StartReference,
) -> None:
    agent, _ = await start_reference(session_ttl_s=0.2)
    async with agent.post_execute(body("long 100")) as response:
        session_id = response.headers["X-Session-ID"]
        await asyncio.sleep(0.3)
        assert (await agent.status(session_id))[0] == 200, "a running session is kept"
        run = await read_stream(response)
    check_run(run.events, first_id=1)

    async def forgotten() -> bool:
        return (await agent.status(session_id))[0] == 404

    await until(forgotten)
    assert (await agent.counters())["sessions"] == 0


async def test_beyond_its_capacity_the_service_refuses_new_sessions_for_a_while(
    start_reference: StartReference,
) -> None:
    agent, _ = await start_reference(max_sessions=2)
    first = await agent.run("hello")
    await agent.run("hello")

    refused = await agent.execute(body("hello"))

    assert (refused.status, refused.body["code"]) == (503, "at_capacity")
    assert refused.headers["Retry-After"] == "1"
    assert (await agent.run("hello", session_id=first.session_id)).last.event == "COMPLETE"


async def test_counters_show_one_run_for_many_attempts_with_one_key(reference: AgentHttp) -> None:
    before = await reference.counters()
    headers = {"Idempotency-Key": f"counted-{uuid.uuid4()}"}

    await asyncio.gather(*(reference.execute(body("hello"), headers) for _ in range(20)))

    after = await reference.counters()
    assert after["runs_started"] - before["runs_started"] == 1
    assert after["idempotent_attaches"] - before["idempotent_attaches"] == 19
    assert after["execute_calls"] - before["execute_calls"] == 20
    assert after["streams_open"] == 0 and after["streams_open_max"] >= 1


async def test_counters_can_be_reset(reference: AgentHttp) -> None:
    await reference.run("hello")
    async with reference.http.delete(
        reference.base_url + "/reference/counters", headers=reference.headers()
    ) as response:
        assert response.status == 204
    counters = await reference.counters()
    assert counters["runs_started"] == counters["execute_calls"] == 0
    assert counters["sessions"] == 1


async def test_the_api_key_never_reaches_the_logs(
    reference: AgentHttp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await reference.run("hello")
    await reference.execute(body("hello"), {"X-API-Key": KEY + "-wrong"})
    await reference.execute(body(7))
    assert caplog.records
    assert KEY not in caplog.text


async def test_a_method_the_path_does_not_take_is_a_problem(reference: AgentHttp) -> None:
    async with reference.get("/api/v1/agent/execute") as response:
        assert response.status == 405
        assert (await response.json(content_type=None))["code"] == "method_not_allowed"


async def test_stopping_the_service_ends_its_open_streams(start_reference: StartReference) -> None:
    agent, running = await start_reference(event_delay_ms=50)
    async with agent.post_execute(body("long 10000")) as response:
        head = await read_stream(response, limit=1)
        async with asyncio.timeout(10):
            await running.close()
        rest = await read_stream(response)
    assert head.events and not rest.ended_cleanly
