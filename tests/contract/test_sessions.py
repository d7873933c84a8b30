"""Status, the resumable stream and the poll fallback: all read the session's event log
exactly, and none of them runs anything."""

from __future__ import annotations

import msgspec
import pytest

from tests.contract.schema import SessionStatus, check_run
from tests.contract.wire import LONG_INPUT, SIMPLE_INPUT, AgentHttp, body, polled, read_stream


async def test_status_follows_a_run_from_running_to_completed(agent: AgentHttp) -> None:
    async with agent.post_execute(body(LONG_INPUT)) as response:
        started = await read_stream(response, limit=1)
        status, running = await agent.status(started.session_id)
    assert status == 200
    state = msgspec.convert(running, SessionStatus)
    assert state.status == "RUNNING" and state.last_event_id >= 1
    assert state.pending_question is None

    rest = await agent.resume(started.session_id, 1)
    _, done = await agent.status(started.session_id)
    assert (done["status"], done["last_event_id"]) == ("COMPLETED", rest.last.id)


async def test_an_unknown_session_is_not_found_everywhere(agent: AgentHttp) -> None:
    unknown = "no-such-session"
    for path in ("", "/stream", "/events"):
        async with agent.get(f"/api/v1/agent/sessions/{unknown}{path}") as response:
            assert response.status == 404
            assert response.content_type == "application/problem+json"
            assert (await response.json())["code"] == "session_not_found"


async def test_resuming_after_any_event_replays_exactly_the_rest_of_the_run(
    agent: AgentHttp,
) -> None:
    run = await agent.run(SIMPLE_INPUT)
    last = run.last.id

    for seen in (1, last // 2, last - 1):
        resumed = await agent.resume(run.session_id, seen)
        assert resumed.status == 200 and resumed.ended_cleanly
        assert resumed.events == run.events[seen:]


async def test_resuming_a_live_run_replays_then_follows_it_without_running_anything(
    agent: AgentHttp,
) -> None:
    async with agent.post_execute(body(LONG_INPUT)) as response:
        first = await read_stream(response, limit=3)

    resumed = await agent.resume(first.session_id, 3)

    events = first.events[:3] + resumed.events
    check_run(events, first_id=1)
    _, state = await agent.status(first.session_id)
    assert state["last_event_id"] == events[-1].id


async def test_resuming_without_last_event_id_replays_the_latest_run(agent: AgentHttp) -> None:
    first = await agent.run(SIMPLE_INPUT)
    second = await agent.run(SIMPLE_INPUT, session_id=first.session_id)

    replayed = await agent.resume(first.session_id, None)

    assert replayed.events == second.events


async def test_resuming_after_the_terminal_event_has_nothing_to_send(agent: AgentHttp) -> None:
    run = await agent.run(SIMPLE_INPUT)
    resumed = await agent.resume(run.session_id, run.last.id)
    assert resumed.status == 204


async def test_a_resumption_stops_at_the_end_of_the_run_it_started_in(agent: AgentHttp) -> None:
    first = await agent.run(SIMPLE_INPUT)
    await agent.run(SIMPLE_INPUT, session_id=first.session_id)

    resumed = await agent.resume(first.session_id, 1)

    assert resumed.events == first.events[1:]


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "999999"])
async def test_a_last_event_id_that_is_no_id_of_the_session_is_refused_naming_it(
    agent: AgentHttp, value: str
) -> None:
    run = await agent.run(SIMPLE_INPUT)
    resumed = await agent.resume(run.session_id, None, {"Last-Event-ID": value})
    assert resumed.status == 400
    assert resumed.body["errors"][0]["field"] == "Last-Event-ID"


async def test_the_last_event_id_query_parameter_stands_in_for_the_header(
    agent: AgentHttp,
) -> None:
    run = await agent.run(SIMPLE_INPUT)
    async with agent.get(
        f"/api/v1/agent/sessions/{run.session_id}/stream", last_event_id="2"
    ) as response:
        resumed = await read_stream(response)
    assert resumed.events == run.events[2:]


async def test_polling_returns_the_streamed_events_and_says_the_run_ended(
    agent: AgentHttp,
) -> None:
    run = await agent.run(SIMPLE_INPUT)

    status, page = await agent.poll(run.session_id, after="0")

    assert status == 200
    assert polled(page["events"]) == run.events
    assert page["ended"] is True
    assert (page["session_id"], page["status"], page["last_event_id"]) == (
        run.session_id,
        "COMPLETED",
        run.last.id,
    )


async def test_polling_pages_through_a_run_with_limit(agent: AgentHttp) -> None:
    run = await agent.run(SIMPLE_INPUT)
    collected, after, ended = [], 0, False
    while not ended:
        _, page = await agent.poll(run.session_id, after=str(after), limit="2")
        assert len(page["events"]) <= 2
        collected += polled(page["events"])
        after = collected[-1].id
        ended = page["ended"]
    assert collected == run.events


async def test_polling_without_after_returns_the_latest_run(agent: AgentHttp) -> None:
    first = await agent.run(SIMPLE_INPUT)
    second = await agent.run(SIMPLE_INPUT, session_id=first.session_id)
    _, page = await agent.poll(first.session_id)
    assert polled(page["events"]) == second.events


async def test_polling_a_live_run_until_it_ends_gives_the_whole_run(agent: AgentHttp) -> None:
    async with agent.post_execute(body(LONG_INPUT)) as response:
        first = await read_stream(response, limit=1)
    collected, ended, saw_running = first.events[:1], False, False
    while not ended:
        _, page = await agent.poll(first.session_id, after=str(collected[-1].id), wait_ms="1000")
        saw_running = saw_running or (page["status"] == "RUNNING" and not page["ended"])
        collected += polled(page["events"])
        ended = page["ended"]
    assert saw_running
    check_run(collected, first_id=1)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"after": "abc"}, "after"),
        ({"after": "-2"}, "after"),
        ({"after": "999999"}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "5000"}, "limit"),
        ({"wait_ms": "x"}, "wait_ms"),
        ({"wait_ms": "30001"}, "wait_ms"),
    ],
)
async def test_poll_parameters_are_validated_naming_them(
    agent: AgentHttp, params: dict[str, str], field: str
) -> None:
    run = await agent.run(SIMPLE_INPUT)
    status, problem = await agent.poll(run.session_id, **params)
    assert status == 400
    assert problem["errors"][0]["field"] == field
