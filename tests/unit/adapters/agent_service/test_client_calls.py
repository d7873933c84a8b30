"""The client's calls on a scripted transport: headers, retries by category, errors."""

from __future__ import annotations

import json

import pytest

from adapters.agent_service.transport import ConnectionFailed, HeadersTimedOut
from application.ports.agent_gateway import (
    AgentAnswer,
    AgentAuthFailed,
    AgentBadRequest,
    AgentConflict,
    AgentProtocolError,
    AgentSessionNotFound,
    AgentTimeout,
    AgentUnavailable,
)
from domain.agent_events import AnswerChunk, Thought, TurnCompleted
from tests.fakes.agent_transport import (
    FakeResponse,
    FakeTransport,
    complete,
    json_response,
    problem,
    sse,
    stream,
)
from tests.unit.adapters.agent_service.conftest import KEY, request


def ok_run() -> FakeResponse:
    return stream(sse(1, "THOUGHT", text="hmm"), sse(2, "ANSWER_CHUNK", text="Hi"), complete(3))


async def test_a_run_streams_typed_events_to_its_terminal_event(harness) -> None:  # type: ignore[no-untyped-def]
    events = await harness(FakeTransport(ok_run())).run()
    assert events == [
        Thought(event_id=1, session_id="s-1", text="hmm"),
        AnswerChunk(event_id=2, session_id="s-1", text="Hi"),
        TurnCompleted(event_id=3, session_id="s-1", answer="done"),
    ]


async def test_execute_posts_the_turn_with_key_and_idempotency_key(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(ok_run()))
    await h.run(request(session_id="s-1", answer=AgentAnswer("q-1", "code"), correlation_id="c-9"))
    (sent,) = h.transport.sent
    assert (sent.method, sent.url) == ("POST", "http://agent.test/api/v1/agent/execute")
    assert sent.headers["X-API-Key"] == KEY
    assert sent.headers["Idempotency-Key"] == "generated-key"
    assert sent.headers["X-Correlation-ID"] == "c-9"
    assert json.loads(sent.body or b"") == {
        "profile_name": "research",
        "input": "search the docs",
        "chat_history": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
        ],
        "user_context": {"user_id": "u-1", "org_id": "org-1", "permissions": ["docs:read"]},
        "session_id": "s-1",
        "answer": {"question_id": "q-1", "text": "code"},
    }


async def test_a_new_session_is_not_named_in_the_body(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(ok_run()))
    await h.run()
    body = json.loads(h.transport.sent[0].body or b"")
    assert "session_id" not in body and "answer" not in body


async def test_503_is_retried_three_times_with_doubling_waits_and_one_idempotency_key(
    harness,
) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(problem(503), problem(503), problem(503), ok_run()))
    events = await h.run(request(idempotency_key="turn-7"))
    assert events[-1].is_terminal
    assert h.sleep.waits == [1.0, 2.0, 4.0]
    assert {s.headers["Idempotency-Key"] for s in h.transport.sent} == {"turn-7"}
    assert h.metrics.total("convo_agent_client_retries", reason="503") == 3


async def test_a_fourth_503_is_unavailable(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(*[problem(503, "busy") for _ in range(4)]))
    with pytest.raises(AgentUnavailable, match=r"HTTP 503\): busy") as raised:
        await h.run()
    assert raised.value.status == 503
    assert len(h.transport.sent) == 4


async def test_connection_errors_are_retried_like_503(harness) -> None:  # type: ignore[no-untyped-def]
    refused = ConnectionFailed("ClientConnectorError")
    h = harness(FakeTransport(refused, refused, refused, refused))
    with pytest.raises(AgentUnavailable, match="unreachable"):
        await h.run()
    assert h.sleep.waits == [1.0, 2.0, 4.0]


async def test_500_is_retried_once(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(problem(500), problem(500)))
    with pytest.raises(AgentUnavailable, match="HTTP 500"):
        await h.run()
    assert h.sleep.waits == [1.0]


async def test_retry_after_in_seconds_sets_the_wait(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(problem(503, **{"Retry-After": "3"}), ok_run()))
    await h.run()
    assert h.sleep.waits == [3.0 * (1 + 0.25 * 0.5)]


async def test_retry_after_as_an_http_date_sets_the_wait(harness) -> None:  # type: ignore[no-untyped-def]
    date = "Sun, 01 Jun 2025 12:00:10 GMT"  # ten seconds after the harness's clock
    h = harness(FakeTransport(problem(503, **{"Retry-After": date}), ok_run()))
    await h.run()
    assert h.sleep.waits == [10.0 * (1 + 0.25 * 0.5)]


async def test_a_retry_after_too_far_away_fails_at_once(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(problem(503, **{"Retry-After": "3600"})))
    with pytest.raises(AgentUnavailable):
        await h.run()
    assert h.sleep.waits == []


async def test_408_is_a_timeout_and_never_retried(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(problem(408, "gave up")))
    with pytest.raises(AgentTimeout, match="HTTP 408"):
        await h.run()
    assert len(h.transport.sent) == 1


async def test_headers_too_late_is_a_timeout_and_never_retried(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(HeadersTimedOut("no response headers in 60 s")))
    with pytest.raises(AgentTimeout, match="60 s"):
        await h.run()
    assert len(h.transport.sent) == 1


@pytest.mark.parametrize("status", [400, 422])
async def test_bad_requests_carry_the_services_message(harness, status: int) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(problem(status, "user_context.user_id: must not be empty")))
    with pytest.raises(AgentBadRequest) as raised:
        await h.run()
    assert raised.value.server_message == "user_context.user_id: must not be empty"
    assert raised.value.status == status
    assert len(h.transport.sent) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, AgentAuthFailed),
        (403, AgentAuthFailed),
        (409, AgentConflict),
        (404, AgentSessionNotFound),
    ],
)
async def test_refusals_map_to_their_port_errors(harness, status: int, error: type) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(problem(status)))
    with pytest.raises(error):
        await h.run()
    assert len(h.transport.sent) == 1


async def test_a_200_that_is_not_an_event_stream_is_a_protocol_error(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(json_response({"ok": True})))
    with pytest.raises(AgentProtocolError, match="application/json"):
        await h.run()


async def test_a_service_echoing_the_key_never_gets_it_into_the_error(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(problem(400, f"bad key {KEY}")))
    with pytest.raises(AgentBadRequest) as raised:
        await h.run()
    assert KEY not in str(raised.value) and KEY not in raised.value.server_message
    assert KEY not in repr(h.client) and KEY not in repr(h.config)


async def test_session_status_maps_the_pending_question(harness) -> None:  # type: ignore[no-untyped-def]
    question = {"question_id": "q-1", "question": "Where?", "choices": ["a"], "expires_at": None}
    document = {
        "session_id": "s-1",
        "status": "AWAITING_USER",
        "last_event_id": 2,
        "pending_question": question,
        "profile_name": "p",
    }
    h = harness(FakeTransport(json_response(document)))
    status = await h.client.get_session_status("s-1")
    assert (status.status, status.last_event_id) == ("AWAITING_USER", 2)
    assert status.pending_question is not None
    assert (status.pending_question.question_id, status.pending_question.choices) == ("q-1", ("a",))
    assert h.transport.sent[0].url == "http://agent.test/api/v1/agent/sessions/s-1"


async def test_session_ids_are_quoted_in_paths(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(json_response({"session_id": "a/b?", "status": "IDLE"})))
    await h.client.get_session_status("a/b?")
    assert h.transport.sent[0].url.endswith("/sessions/a%2Fb%3F")


async def test_an_unknown_session_is_not_found(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(problem(404)))
    with pytest.raises(AgentSessionNotFound):
        await h.client.get_session_status("gone")


async def test_a_malformed_status_document_is_a_protocol_error(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(json_response({"session_id": "s", "status": "DANCING"})))
    with pytest.raises(AgentProtocolError, match=r"\$\.status"):
        await h.client.get_session_status("s")


async def test_poll_reads_a_page_of_events(harness) -> None:  # type: ignore[no-untyped-def]
    page = {
        "session_id": "s-1",
        "status": "RUNNING",
        "last_event_id": 5,
        "events": [{"id": 5, "event": "ANSWER_CHUNK", "data": {"session_id": "s-1", "text": "x"}}],
        "ended": False,
    }
    h = harness(FakeTransport(json_response(page)))
    result = await h.client.poll_events("s-1", 4)
    assert result.events == (AnswerChunk(event_id=5, session_id="s-1", text="x"),)
    assert not result.ended
    assert h.transport.sent[0].url.endswith("/sessions/s-1/events?after=4&wait_ms=5000")


async def test_health_is_true_only_for_200(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(json_response({"status": "ok"}), problem(503)))
    assert await h.client.health() is True
    assert await h.client.health() is False
    assert h.transport.sent[0].headers["X-API-Key"] == KEY


async def test_health_is_false_when_unreachable(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(ConnectionFailed("ClientConnectorError")))
    assert await h.client.health() is False


async def test_a_refused_response_is_closed(harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(FakeTransport(problem(503), ok_run()))
    await h.run()
    assert all(isinstance(r, FakeResponse) and r.closed for r in h.transport.responses)
