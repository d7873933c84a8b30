"""POST /api/v1/agent/execute: sessions, turns, events and the stream's framing."""

from __future__ import annotations

from tests.contract.schema import AnswerChunkData, CompleteData, check_run
from tests.contract.wire import LONG_INPUT, SIMPLE_INPUT, AgentHttp, body, read_stream


async def test_health_answers_without_a_key(agent: AgentHttp) -> None:
    async with agent.http.get(agent.base_url + "/health") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_a_new_session_streams_one_whole_run_numbered_from_one(agent: AgentHttp) -> None:
    read = await agent.run(SIMPLE_INPUT)

    assert read.headers["Content-Type"].startswith("text/event-stream")
    assert read.headers["Cache-Control"] == "no-cache"
    assert read.headers["X-Session-ID"] == read.session_id
    checked = check_run(read.events, first_id=1)
    assert any(isinstance(data, AnswerChunkData) for data in checked)
    assert isinstance(checked[-1], CompleteData)


async def test_the_stream_ends_right_after_the_terminal_event(agent: AgentHttp) -> None:
    read = await agent.run(SIMPLE_INPUT)

    assert read.ended_cleanly
    blocks = [b for b in read.raw.replace(b"\r\n", b"\n").split(b"\n\n") if b.strip()]
    assert blocks[-1].startswith(b"id: %d\n" % read.last.id), "nothing follows the terminal event"


async def test_a_later_turn_continues_the_session_and_its_numbering(agent: AgentHttp) -> None:
    first = await agent.run(SIMPLE_INPUT)
    second = await agent.run(SIMPLE_INPUT, session_id=first.session_id)

    assert second.session_id == first.session_id
    check_run(second.events, first_id=first.last.id + 1)
    status, state = await agent.status(first.session_id)
    assert (status, state["status"], state["last_event_id"]) == (200, "COMPLETED", second.last.id)


async def test_the_correlation_id_is_echoed_or_made(agent: AgentHttp) -> None:
    async with agent.post_execute(
        body(SIMPLE_INPUT),
        {"X-Correlation-ID": "corr-123", "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
    ) as response:
        await read_stream(response)
        assert response.headers["X-Correlation-ID"] == "corr-123"
    async with agent.post_execute(body(SIMPLE_INPUT)) as response:
        await read_stream(response)
        assert response.headers["X-Correlation-ID"]


async def test_a_run_goes_on_to_its_end_when_its_client_goes_away(agent: AgentHttp) -> None:
    async with agent.post_execute(body(LONG_INPUT)) as response:
        started = await read_stream(response, limit=2)
    session_id = started.session_id

    resumed = await agent.resume(session_id, started.events[-1].id)

    assert resumed.ended_cleanly
    check_run(started.events[:2] + resumed.events, first_id=1)
    _, state = await agent.status(session_id)
    assert state["last_event_id"] == resumed.last.id
    assert state["status"] == "COMPLETED"


async def test_an_invalid_correlation_id_is_refused_naming_the_header(agent: AgentHttp) -> None:
    async with agent.post_execute(body(SIMPLE_INPUT), {"X-Correlation-ID": "x" * 201}) as response:
        assert response.status == 400
        problem = await response.json(content_type=None)
    assert problem["errors"][0]["field"] == "X-Correlation-ID"
