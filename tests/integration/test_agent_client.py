"""AgentServiceClient over real HTTP against the reference Agent Service, for every fault knob.

The reference service runs in-process on a loopback port with fast pacing; faults are armed
through its admin endpoint (`POST /reference/faults`), and its counters show what happened on
the agent side. After every cut, stall or malformed event the client must deliver the run's
events once each, in order, ending with its terminal event.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from adapters.agent_service import (
    AgentClientConfig,
    AgentServiceClient,
    BackoffSchedule,
    RetryPolicy,
)
from adapters.agent_service.transport import AiohttpTransport, HttpResponse, HttpTransport
from application.ports.agent_gateway import (
    AgentAnswer,
    AgentAuthFailed,
    AgentBadRequest,
    AgentConflict,
    AgentGatewayError,
    AgentProtocolError,
    AgentSessionNotFound,
    AgentTimeout,
    AgentTurnRequest,
    AgentUnavailable,
    UserContext,
)
from domain.agent_events import (
    AgentEvent,
    AnswerChunk,
    QuestionAsked,
    TurnCompleted,
    UnknownAgentEvent,
)
from entrypoints.reference_agent import (
    ReferenceAgentConfig,
    RunningReferenceAgent,
    start_reference_agent,
)
from tests.fakes.metrics import RecordingMetrics

KEY = "integration-agent-key-5b2e9"
USER = UserContext("u-1", "org-1", ("docs:read",))


@dataclass(frozen=True)
class Attempt:
    at: float
    method: str
    url: str
    headers: Mapping[str, str]


class RecordingTransport(HttpTransport):
    """The real aiohttp transport, noting when each request went out."""

    def __init__(self, inner: HttpTransport) -> None:
        self._inner = inner
        self.attempts: list[Attempt] = []

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        headers_timeout_s: float,
    ) -> HttpResponse:
        loop = asyncio.get_running_loop()
        self.attempts.append(Attempt(loop.time(), method, url, dict(headers)))
        return await self._inner.send(method, url, headers, body, headers_timeout_s)

    def calls(self, method: str, tail: str) -> list[Attempt]:
        return [
            a for a in self.attempts if a.method == method and a.url.split("?")[0].endswith(tail)
        ]


@dataclass
class Reference:
    running: RunningReferenceAgent
    http: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return self.running.url

    async def arm(self, **fault: Any) -> None:
        async with self.http.post(
            self.url + "/reference/faults", json=fault, headers={"X-API-Key": KEY}
        ) as response:
            assert response.status == 201, await response.text()

    async def counters(self) -> dict[str, int]:
        async with self.http.get(
            self.url + "/reference/counters", headers={"X-API-Key": KEY}
        ) as response:
            return await response.json()


@dataclass
class Harness:
    client: AgentServiceClient
    transport: RecordingTransport
    metrics: RecordingMetrics
    config: AgentClientConfig
    waits: list[float] = field(default_factory=list)

    async def run(self, text: str = "search the docs", **turn: Any) -> list[AgentEvent]:
        request = AgentTurnRequest(
            profile_name="default", input=text, chat_history=[], user_context=USER, **turn
        )
        return [event async for event in self.client.execute_agent(request)]


FAST = {"first_event_ms": 1, "event_delay_ms": 1, "heartbeat_s": 0.05, "access_log": False}
QUICK = {
    "heartbeat_interval_s": 0.1,
    "retry": RetryPolicy(backoff=BackoffSchedule(base_s=0.05, jitter=0.25)),
    "reconnect_backoff": BackoffSchedule(base_s=0.05, jitter=0.25),
    "poll_interval_s": 0.02,
    "poll_wait_s": 0.5,
}


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        yield session


@pytest.fixture
async def reference(
    http: aiohttp.ClientSession,
) -> AsyncIterator[Callable[..., Awaitable[Reference]]]:
    running: list[RunningReferenceAgent] = []

    async def start(**config: Any) -> Reference:
        agent = await start_reference_agent(ReferenceAgentConfig(api_key=KEY, **{**FAST, **config}))
        running.append(agent)
        return Reference(agent, http)

    yield start
    for agent in running:
        await agent.close()


@pytest.fixture
def harness(http: aiohttp.ClientSession) -> Callable[..., Harness]:
    def make(reference: Reference, key: str = KEY, **config: Any) -> Harness:
        settings = AgentClientConfig(base_url=reference.url, api_key=key, **{**QUICK, **config})
        transport = RecordingTransport(AiohttpTransport(http, settings.connect_timeout_s))
        metrics = RecordingMetrics()
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            await asyncio.sleep(seconds)

        client = AgentServiceClient(settings, transport=transport, metrics=metrics, sleep=sleep)
        return Harness(client, transport, metrics, settings, waits)

    return make


def ids(events: list[AgentEvent]) -> list[int]:
    return [event.event_id for event in events]


def answer_of(events: list[AgentEvent]) -> str:
    return "".join(event.text for event in events if isinstance(event, AnswerChunk))


def transcript(events: list[AgentEvent]) -> list[tuple[int, str, str]]:
    return [
        (event.event_id, type(event).__name__, getattr(event, "text", "") or "") for event in events
    ]


def assert_complete_run(events: list[AgentEvent], count: int) -> None:
    """Events 1..count, each once, in order, the last one COMPLETE."""
    assert ids(events) == list(range(1, count + 1))
    assert isinstance(events[-1], TurnCompleted)
    assert sum(1 for e in events if e.is_terminal) == 1


LONG = "long 100"  # 100 ANSWER_CHUNKs then COMPLETE: events 1..101


async def test_a_run_streams_every_event_as_a_domain_value(reference, harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(await reference())
    events = await h.run(LONG)
    assert_complete_run(events, 101)
    assert answer_of(events) == "".join(f"part {n} " for n in range(1, 101))
    assert {e.session_id for e in events} == {events[0].session_id}


async def test_a_session_carries_memory_and_a_question_is_answered(reference, harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(await reference())
    asked = await h.run("this request is ambiguous")
    question = asked[-1]
    assert isinstance(question, QuestionAsked) and "code" in question.choices
    status = await h.client.get_session_status(question.session_id or "")
    assert status.status == "AWAITING_USER"
    assert status.pending_question is not None
    assert status.pending_question.question_id == question.question_id
    answered = await h.run(
        "", session_id=question.session_id, answer=AgentAnswer(question.question_id, "code")
    )
    assert isinstance(answered[-1], TurnCompleted)
    assert ids(answered)[0] == question.event_id + 1
    assert "code" in answer_of(answered)


async def test_503s_are_retried_on_the_backoff_schedule(reference, harness) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    await ref.arm(status=503, retry_after="0", count=3)
    h = harness(ref, retry=RetryPolicy(backoff=BackoffSchedule(base_s=0.2, jitter=0.25)))
    events = await h.run()
    assert isinstance(events[-1], TurnCompleted)
    attempts = h.transport.calls("POST", "/execute")
    assert len(attempts) == 4
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    for n, (gap, wait) in enumerate(zip(gaps, h.waits, strict=True)):
        low, high = h.config.retry.backoff.bounds(n)
        assert low <= wait <= high, (n, wait)
        assert gap >= wait - 0.01, (n, gap, wait)  # asyncio may wake a timer a hair early
    counters = await ref.counters()
    assert (counters["execute_calls"], counters["runs_started"]) == (4, 1)


async def test_a_fourth_503_gives_up_unavailable(reference, harness) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    await ref.arm(status=503, retry_after="0", count=4)
    h = harness(ref)
    with pytest.raises(AgentUnavailable, match="HTTP 503"):
        await h.run()
    assert (await ref.counters())["runs_started"] == 0
    assert len(h.transport.calls("POST", "/execute")) == 4


async def test_retry_after_in_seconds_is_honoured(reference, harness) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    await ref.arm(status=503, retry_after="1")
    h = harness(ref)
    await h.run()
    first, second = h.transport.calls("POST", "/execute")
    assert 1.0 <= h.waits[0] <= 1.25
    assert second.at - first.at >= 1.0 - 0.01


async def test_retry_after_as_an_http_date_is_honoured(reference, harness) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    await ref.arm(status=503, retry_after=format_datetime(when, usegmt=True))
    h = harness(ref)
    await h.run()
    first, second = h.transport.calls("POST", "/execute")
    assert 0.5 <= h.waits[0] <= 2.5
    assert second.at - first.at >= h.waits[0] - 0.01


async def test_a_500_is_retried_once(reference, harness) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    await ref.arm(status=500, count=2)
    h = harness(ref)
    with pytest.raises(AgentUnavailable, match="HTTP 500"):
        await h.run()
    assert len(h.transport.calls("POST", "/execute")) == 2


async def test_a_408_is_a_timeout_with_no_retry(reference, harness) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    await ref.arm(status=408)
    h = harness(ref)
    with pytest.raises(AgentTimeout, match="HTTP 408"):
        await h.run()
    assert len(h.transport.calls("POST", "/execute")) == 1


async def test_a_400_carries_the_services_message(reference, harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(await reference())
    with pytest.raises(AgentBadRequest) as raised:
        await h.run("   ")
    assert raised.value.status == 400 and raised.value.server_message
    assert len(h.transport.calls("POST", "/execute")) == 1


async def test_a_wrong_key_is_an_auth_error(reference, harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(await reference(), key="not-the-key")
    with pytest.raises(AgentAuthFailed):
        await h.run()


async def test_a_second_turn_while_one_runs_is_a_conflict(reference, harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(await reference(event_delay_ms=20))
    running = h.client.execute_agent(
        AgentTurnRequest(profile_name="default", input=LONG, chat_history=[], user_context=USER)
    )
    first = await anext(running)
    with pytest.raises(AgentConflict):
        await h.run(session_id=first.session_id)
    await running.aclose()


async def test_an_unknown_session_is_not_found(reference, harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(await reference())
    with pytest.raises(AgentSessionNotFound):
        await h.client.get_session_status("no-such-session")


async def test_every_attempt_carries_one_idempotency_key_and_the_agent_runs_once(
    reference, harness
) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    await ref.arm(status=503, retry_after="0", count=2)
    h = harness(ref)
    events = await h.run(LONG, idempotency_key="turn-42")
    keys = {a.headers["Idempotency-Key"] for a in h.transport.calls("POST", "/execute")}
    assert keys == {"turn-42"}
    again = await h.run(LONG, idempotency_key="turn-42")  # as after a restart of this service
    assert transcript(again) == transcript(events)
    counters = await ref.counters()
    assert (counters["runs_started"], counters["idempotent_attaches"]) == (1, 1)


async def test_after_a_headers_timeout_the_same_key_attaches_to_the_started_run(
    reference, harness
) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    await ref.arm(headers_delay_ms=1500)
    h = harness(ref, headers_timeout_s=0.3)
    with pytest.raises(AgentTimeout, match="no response headers"):
        await h.run(LONG, idempotency_key="slow-turn")
    assert len(h.transport.calls("POST", "/execute")) == 1
    events = await h.run(LONG, idempotency_key="slow-turn")
    assert_complete_run(events, 101)
    assert (await ref.counters())["runs_started"] == 1


@pytest.mark.parametrize("k", [0, 1, 37, 100])
async def test_a_cut_after_event_k_of_100_delivers_the_rest_exactly_once(
    reference, harness, k: int
) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    await ref.arm(cut_after=k)
    h = harness(ref)
    events = await h.run(LONG)
    assert_complete_run(events, 101)
    assert answer_of(events) == "".join(f"part {n} " for n in range(1, 101))
    (resume,) = h.transport.calls("GET", "/stream")
    assert resume.headers.get("Last-Event-ID") == (str(k) if k else None)
    assert len(h.transport.calls("POST", "/execute")) == 1
    counters = await ref.counters()
    assert (counters["execute_calls"], counters["runs_started"]) == (1, 1)


async def test_cuts_on_every_resumed_stream_still_deliver_every_event_once(
    reference, harness
) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    await ref.arm(cut_after=10)
    await ref.arm(cut_after=15, routes=["stream"], count=5)
    h = harness(ref, heartbeat_interval_s=2.0)  # as below: the stream calls are counted
    events = await h.run(LONG)
    assert_complete_run(events, 101)
    assert len(h.transport.calls("GET", "/stream")) == 6


async def test_a_stall_trips_the_watchdog_then_the_run_is_resumed(reference, harness) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    await ref.arm(stall_ms=5000, stall_after=20)
    h = harness(ref, heartbeat_interval_s=0.1)
    events = await h.run(LONG)
    assert_complete_run(events, 101)
    assert h.metrics.total("convo_agent_client_stream_interruptions", reason="idle") == 1
    (resume,) = h.transport.calls("GET", "/stream")
    assert resume.headers["Last-Event-ID"] == "20"


async def test_heartbeats_keep_a_slow_run_alive(reference, harness) -> None:  # type: ignore[no-untyped-def]
    ref = await reference(heartbeat_s=0.05)
    await ref.arm(first_event_delay_ms=800)
    h = harness(ref, heartbeat_interval_s=0.1)
    events = await h.run()
    assert isinstance(events[-1], TurnCompleted)
    assert h.metrics.total("convo_agent_client_stream_interruptions") == 0


async def test_a_slow_drip_split_anywhere_still_parses(reference, harness) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    await ref.arm(drip_ms=1, drip_bytes=7)
    h = harness(ref)
    events = await h.run("long 20")
    assert_complete_run(events, 21)


@pytest.mark.parametrize(
    ("kind", "wrong"), [("bad-json", "bad data"), ("missing-fields", "`text`")]
)
async def test_a_malformed_event_is_a_protocol_error(
    reference, harness, kind: str, wrong: str
) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    await ref.arm(malformed=kind, malformed_at=3)
    h = harness(ref)
    with pytest.raises(AgentProtocolError, match=f"ANSWER_CHUNK event 3: .*{wrong}"):
        await h.run(LONG)
    assert h.metrics.total("convo_agent_client_reconnects") == 0


async def test_an_unknown_event_type_arrives_typed_and_the_run_goes_on(reference, harness) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    await ref.arm(malformed="unknown-type", malformed_at=3)
    h = harness(ref)
    events = await h.run(LONG)
    assert ids(events) == list(range(1, 102))
    assert isinstance(events[2], UnknownAgentEvent) and events[2].kind == "PROGRESS"


async def test_an_event_the_stream_never_dispatched_is_fetched_again(reference, harness) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    await ref.arm(malformed="no-data", malformed_at=3)
    h = harness(ref)
    events = await h.run(LONG)
    assert_complete_run(events, 101)
    assert h.metrics.total("convo_agent_client_stream_interruptions", reason="gap") == 1


async def test_when_resuming_keeps_failing_polling_yields_the_uncut_transcript(
    reference, harness
) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    # The stream calls are counted: no idle resume (after 0.3 s with QUICK) on a busy machine.
    h = harness(ref, heartbeat_interval_s=2.0)
    uncut = await h.run(LONG)
    await ref.arm(cut_after=10)
    await ref.arm(status=503, retry_after="0", routes=["stream"], count=3)
    cut = await h.run(LONG, session_id=uncut[0].session_id)
    offset = uncut[-1].event_id
    assert [(i - offset, kind, text) for i, kind, text in transcript(cut)] == transcript(uncut)
    assert h.metrics.total("convo_agent_client_poll_fallbacks") == 1
    assert len(h.transport.calls("GET", "/stream")) == 3
    assert h.transport.calls("GET", "/events")


async def test_the_whole_run_cap_ends_in_a_timeout(reference, harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(await reference(event_delay_ms=50), stream_timeout_s=0.5)
    with pytest.raises(AgentTimeout, match=r"took longer than 0\.5 s"):
        await h.run(LONG)


async def test_resume_follows_a_run_from_a_stored_event(reference, harness) -> None:  # type: ignore[no-untyped-def]
    h = harness(await reference())
    whole = await h.run(LONG)
    session = whole[0].session_id or ""
    tail = [event async for event in h.client.resume(session, 90)]
    assert transcript(tail) == transcript(whole)[90:]
    page = await h.client.poll_events(session, 95)
    assert ids(list(page.events)) == list(range(96, 102)) and page.ended
    assert await h.client.health()


async def test_the_api_key_never_reaches_logs_errors_or_reprs(reference, harness, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    ref = await reference()
    h = harness(ref)
    found: list[str] = [repr(h.client), repr(h.config), str(h.config)]
    await ref.arm(status=503, retry_after="0")
    await ref.arm(cut_after=5)
    await ref.arm(stall_ms=2000, stall_after=1, routes=["stream"])
    await h.run(LONG)
    for fault in ({"status": 400}, {"status": 408}, {"malformed": "bad-json"}):
        await ref.arm(**fault)
        with pytest.raises(AgentGatewayError) as raised:
            await h.run(LONG)
        found += [str(raised.value), repr(raised.value), raised.value.server_message]
    with pytest.raises(AgentAuthFailed) as refused:
        await harness(ref, key=KEY + "-wrong").run()
    found += [str(refused.value), repr(refused.value)]
    found += [record.getMessage() for record in caplog.records]
    found.append(caplog.text)
    assert all(KEY not in text for text in found)
    assert h.metrics.total("convo_agent_client_retries") >= 1


async def test_the_quick_start_in_the_docs_runs_as_written(reference, capfd) -> None:  # type: ignore[no-untyped-def]
    ref = await reference()
    guide = (Path(__file__).parents[2] / "docs" / "agent-client.md").read_text()
    code = guide.split("```python\n", 1)[1].split("```", 1)[0]
    assert "http://127.0.0.1:8100" in code and '"dev-key"' in code
    code = code.replace("http://127.0.0.1:8100", ref.url).replace('"dev-key"', repr(KEY))
    await asyncio.to_thread(exec, compile(code, "agent-client.md", "exec"), {})
    printed = capfd.readouterr().out
    assert "[using search]" in printed and "(done, " in printed
