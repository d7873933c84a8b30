"""Following a run through broken, idle, gapped and unresumable streams, on a fake transport.

Whatever happens to the stream, the run's events arrive once each, in order, ending with the
terminal event; otherwise the client raises. It never re-posts execute after the response
started.
"""

from __future__ import annotations

import asyncio

import pytest

from adapters.agent_service.transport import ConnectionFailed
from application.ports.agent_gateway import (
    AgentProtocolError,
    AgentSessionNotFound,
    AgentStreamLost,
    AgentTimeout,
)
from domain.agent_events import AgentEvent, UnknownAgentEvent
from tests.fakes.agent_transport import (
    BROKEN,
    STALL,
    FakeResponse,
    FakeTransport,
    chunks,
    complete,
    json_response,
    problem,
    sse,
    stream,
)
from tests.unit.adapters.agent_service.conftest import request


def ids(events: list[AgentEvent]) -> list[int]:
    return [event.event_id for event in events]


def page(events: list[tuple[int, str, dict[str, object]]], ended: bool) -> object:
    items = [
        {"id": i, "event": kind, "data": {"session_id": "s-1", **data}} for i, kind, data in events
    ]
    return json_response(
        {
            "session_id": "s-1",
            "status": "RUNNING",
            "last_event_id": 0,
            "events": items,
            "ended": ended,
        }
    )


async def test_a_broken_stream_is_resumed_after_the_last_event_never_reposted(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(
        FakeTransport(
            stream(*chunks(3), BROKEN),
            stream(*chunks(5)[1:], complete(6)),  # the replay repeats events 2 and 3
        )
    )
    events = await h.run()
    assert ids(events) == [1, 2, 3, 4, 5, 6]
    assert [s.method for s in h.transport.sent] == ["POST", "GET"]
    resume = h.transport.sent[1]
    assert resume.url == "http://agent.test/api/v1/agent/sessions/s-1/stream"
    assert resume.headers["Last-Event-ID"] == "3"
    assert h.metrics.total("convo_agent_client_duplicates_dropped") == 2


async def test_a_stream_ending_without_a_terminal_event_is_resumed(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(stream(*chunks(2)), stream(*chunks(3)[2:], complete(4))))
    assert ids(await h.run()) == [1, 2, 3, 4]
    assert h.metrics.total("convo_agent_client_stream_interruptions", reason="ended") == 1


async def test_a_silent_stream_is_declared_dead_by_the_watchdog_then_resumed(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(
        FakeTransport(stream(*chunks(2), STALL), stream(complete(3))),
        heartbeat_interval_s=0.01,
    )
    assert ids(await h.run()) == [1, 2, 3]
    assert h.metrics.total("convo_agent_client_stream_interruptions", reason="idle") == 1
    assert h.transport.responses[0].closed


async def test_heartbeats_keep_a_slow_stream_alive(harness) -> None:  # type: ignore[no-untyped-def]
    beats = [b": heartbeat\n\n"] * 5
    h = harness(FakeTransport(stream(sse(1, "THOUGHT", text="t"), *beats, complete(2))))
    assert ids(await h.run()) == [1, 2]
    assert h.metrics.total("convo_agent_client_stream_interruptions") == 0


async def test_a_gap_in_event_ids_is_filled_by_resuming(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(
        FakeTransport(
            stream(*chunks(2), chunks(4)[3]),  # event 3 never dispatched
            stream(*chunks(4)[2:], complete(5)),
        )
    )
    assert ids(await h.run()) == [1, 2, 3, 4, 5]
    assert h.transport.sent[1].headers["Last-Event-ID"] == "2"


async def test_a_cut_before_any_event_resumes_from_the_start_of_the_latest_run(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(stream(BROKEN), stream(*chunks(1), complete(2))))
    assert ids(await h.run()) == [1, 2]
    assert "Last-Event-ID" not in h.transport.sent[1].headers


async def test_a_cut_before_the_session_is_known_loses_the_stream(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(stream(BROKEN, session_id=None)))
    with pytest.raises(AgentStreamLost, match="before it named its session"):
        await h.run()


async def test_the_reconnect_budget_resets_whenever_events_arrive(harness) -> None:  # type: ignore[no-untyped-def]
    breaks = [stream(*chunks(n)[n - 1 :], BROKEN) for n in range(2, 8)]
    h = harness(FakeTransport(stream(*chunks(1), BROKEN), *breaks, stream(complete(8))))
    assert ids(await h.run()) == list(range(1, 9))
    assert h.sleep.waits == [1.0] * 7


async def test_reconnects_back_off_while_they_fail(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(
        FakeTransport(
            stream(*chunks(1), BROKEN),
            problem(503),
            ConnectionFailed("ClientConnectorError"),
            stream(complete(2)),
        )
    )
    assert ids(await h.run()) == [1, 2]
    assert h.sleep.waits == [1.0, 2.0, 4.0]


async def test_a_resume_honours_retry_after(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(
        FakeTransport(
            stream(*chunks(1), BROKEN),
            problem(503, **{"Retry-After": "6"}),
            stream(complete(2)),
        )
    )
    await h.run()
    assert h.sleep.waits == [1.0, 6.0]


async def test_when_resuming_keeps_failing_the_run_is_polled_to_its_end(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(
        FakeTransport(
            stream(*chunks(2), BROKEN),
            problem(503),
            json_response({"not": "a stream"}),  # 200 with the wrong content type
            problem(500),
            page(
                [(2, "ANSWER_CHUNK", {"text": "again"}), (3, "ANSWER_CHUNK", {"text": "c"})], False
            ),
            page([], False),
            page([(4, "COMPLETE", {"answer": "abc"})], True),
        )
    )
    events = await h.run()
    assert ids(events) == [1, 2, 3, 4]
    polls = h.transport.sent[4:]
    assert [s.url.split("?")[1] for s in polls] == [
        "after=2&wait_ms=5000",
        "after=3&wait_ms=5000",
        "after=3&wait_ms=5000",
    ]
    assert h.metrics.total("convo_agent_client_poll_fallbacks") == 1
    assert h.sleep.waits[-1] == h.config.poll_interval_s


async def test_a_polled_run_that_ends_without_a_terminal_event_is_lost(harness) -> None:  # type: ignore[no-untyped-def]
    failing = [problem(503) for _ in range(3)]
    h = harness(FakeTransport(stream(*chunks(1), BROKEN), *failing, page([], True)))
    with pytest.raises(AgentStreamLost, match="without a terminal event"):
        await h.run()


async def test_polling_that_keeps_failing_loses_the_stream(harness) -> None:  # type: ignore[no-untyped-def]
    refused = [ConnectionFailed("ClientConnectorError") for _ in range(3 + 4 * 4)]
    h = harness(FakeTransport(stream(*chunks(1), BROKEN), *refused))
    with pytest.raises(AgentStreamLost, match="polling the run failed"):
        await h.run()


@pytest.mark.parametrize(("status", "error"), [(404, AgentSessionNotFound), (410, AgentStreamLost)])
async def test_a_resume_refused_for_good_ends_at_once(harness, status: int, error: type) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(stream(*chunks(1), BROKEN), problem(status)))
    with pytest.raises(error):
        await h.run()
    assert len(h.transport.sent) == 2


async def test_nothing_left_to_resume_is_never_reported_as_completed(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(stream(*chunks(1), BROKEN), FakeResponse(204, {}, [])))
    with pytest.raises(AgentStreamLost, match="nothing after event 1"):
        await h.run()


async def test_resume_follows_a_session_from_a_given_event(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(stream(*chunks(7)[5:], complete(8))))
    assert ids(await h.resumed("s-1", 5)) == [6, 7, 8]
    assert h.transport.sent[0].headers["Last-Event-ID"] == "5"
    assert h.sleep.waits == []


async def test_the_whole_run_is_capped_even_while_heartbeats_flow(harness) -> None:  # type: ignore[no-untyped-def]
    class Beating:
        status = 200
        closed = False

        def header(self, name: str) -> str | None:
            return {"content-type": "text/event-stream", "x-session-id": "s-1"}.get(name.lower())

        async def chunk(self) -> bytes:
            await asyncio.sleep(0.005)
            return b": heartbeat\n\n"

        async def body(self) -> bytes:
            return b""

        def close(self) -> None:
            self.closed = True

    h = harness(FakeTransport(Beating()), stream_timeout_s=0.05)  # type: ignore[arg-type]
    with pytest.raises(AgentTimeout, match=r"took longer than 0\.05 s"):
        await h.run()


async def test_unknown_event_types_pass_through_typed(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(stream(sse(1, "PROGRESS", percent=50), complete(2))))
    events = await h.run()
    assert isinstance(events[0], UnknownAgentEvent) and events[0].kind == "PROGRESS"
    assert h.metrics.total("convo_agent_client_unknown_events") == 1


async def test_malformed_data_is_a_protocol_error(harness) -> None:  # type: ignore[no-untyped-def]
    bad = b'id: 2\nevent: ANSWER_CHUNK\ndata: {"session_id": "s-1", "te\n\n'
    h = harness(FakeTransport(stream(*chunks(1), bad, complete(3))))
    with pytest.raises(AgentProtocolError, match="ANSWER_CHUNK event 2"):
        await h.run()


async def test_an_event_of_another_session_is_a_protocol_error(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(stream(sse(1, "THOUGHT", session_id="s-2", text="x"))))
    with pytest.raises(AgentProtocolError, match="another session"):
        await h.run()


async def test_the_first_event_must_name_the_session(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(
        FakeTransport(stream(sse(1, "THOUGHT", session_id=None, text="x"), session_id=None))
    )
    with pytest.raises(AgentProtocolError, match="names no session"):
        await h.run()


async def test_an_event_without_an_id_is_a_protocol_error(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(stream(b'event: THOUGHT\ndata: {"text": "x"}\n\n')))
    with pytest.raises(AgentProtocolError, match="not a positive integer"):
        await h.run()


async def test_an_abandoned_run_closes_its_stream(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(stream(*chunks(3), complete(4))))
    run = h.client.execute_agent(request())
    await anext(run)
    await run.aclose()
    assert h.transport.responses[0].closed


async def test_a_slow_consumer_is_never_cut_off_by_the_watchdog(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(stream(*chunks(3), complete(4))), heartbeat_interval_s=0.005)
    seen = []
    async for event in h.client.execute_agent(request()):
        seen.append(event.event_id)
        await asyncio.sleep(0.03)  # twice the idle timeout, spent outside the read
    assert seen == [1, 2, 3, 4]
    assert h.metrics.total("convo_agent_client_stream_interruptions") == 0
