"""The Agent Service endpoints of the contract: execute, status, stream, poll, health."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec
from aiohttp import web

from entrypoints.reference_agent.faults import FaultSpec, Pacing, pacing
from entrypoints.reference_agent.log import EventsExpired
from entrypoints.reference_agent.problems import Problem, from_validation, invalid
from entrypoints.reference_agent.service import ReferenceAgent
from entrypoints.reference_agent.sessions import Session, Status
from entrypoints.reference_agent.streaming import Wire, relay
from entrypoints.reference_agent.wire import (
    ExecuteBody,
    PendingQuestionBody,
    PollBody,
    PolledEvent,
    SessionStatusBody,
    rfc3339,
)

SERVICE = web.AppKey("reference_agent", ReferenceAgent)
CORRELATION = web.RequestKey("correlation_id", str)

log = logging.getLogger("convo.reference_agent")
_decode_execute = msgspec.json.Decoder(ExecuteBody).decode


async def execute(request: web.Request) -> web.StreamResponse:
    agent = request.app[SERVICE]
    agent.counters.execute_calls += 1
    fault = agent.resolve_faults("execute", request.headers)
    await agent.refuse_if_injected(fault)
    body = _execute_body(await request.read())
    pace = pacing(request.headers)
    key = _idempotency_key(request)
    session, run_after = agent.execute(body, key, pace)
    log.info(
        "execute: session %s, run after event %d, correlation %s, trace %s",
        session.id,
        run_after,
        request[CORRELATION],
        _trace_id(request),
    )
    return await _stream(request, agent, session, run_after, fault, pace)


async def status(request: web.Request) -> web.Response:
    agent = request.app[SERVICE]
    agent.counters.status_calls += 1
    fault = agent.resolve_faults("status", request.headers)
    await agent.refuse_if_injected(fault)
    await agent.hold_headers(fault)
    return json_response(_status_body(agent.session(request.match_info["session_id"])))


async def stream(request: web.Request) -> web.StreamResponse:
    agent = request.app[SERVICE]
    agent.counters.stream_calls += 1
    fault = agent.resolve_faults("stream", request.headers)
    await agent.refuse_if_injected(fault)
    pace = pacing(request.headers)
    session = agent.session(request.match_info["session_id"])
    raw = request.headers.get("Last-Event-ID", request.query.get("last_event_id"))
    after = _event_id("Last-Event-ID", raw, session)
    if after == session.log.last_id and session.status is not Status.RUNNING:
        return web.Response(status=204)
    return await _stream(request, agent, session, after, fault, pace)


async def events(request: web.Request) -> web.Response:
    agent = request.app[SERVICE]
    agent.counters.poll_calls += 1
    fault = agent.resolve_faults("events", request.headers)
    await agent.refuse_if_injected(fault)
    await agent.hold_headers(fault)
    session = agent.session(request.match_info["session_id"])
    after = _event_id("after", request.query.get("after"), session)
    limit = _bounded("limit", request.query.get("limit"), 1, 1000, 500)
    wait_ms = _bounded("wait_ms", request.query.get("wait_ms"), 0, 30_000, 0)
    if wait_ms and session.status is Status.RUNNING:
        await session.log.wait_beyond(after, wait_ms / 1000)
    try:
        batch = session.log.after(after, limit)
    except EventsExpired:
        raise Problem(
            410, "events_expired", f"the events after {after} are no longer held"
        ) from None
    ended = batch[-1].terminal if batch else session.status is not Status.RUNNING
    polled = [PolledEvent(e.id, e.event, msgspec.Raw(e.data)) for e in batch]
    body = PollBody(
        session_id=session.id,
        status=session.status.value,
        last_event_id=session.log.last_id,
        events=polled,
        ended=ended,
    )
    return json_response(body)


async def health(request: web.Request) -> web.Response:
    agent = request.app[SERVICE]
    fault = agent.resolve_faults("health", request.headers)
    await agent.refuse_if_injected(fault)
    await agent.hold_headers(fault)
    return json_response({"status": "ok"})


async def _stream(
    request: web.Request,
    agent: ReferenceAgent,
    session: Session,
    after: int,
    fault: FaultSpec,
    pace: Pacing,
) -> web.StreamResponse:
    heartbeat_s = agent.heartbeat_s(pace)
    wire = Wire(request, fault, heartbeat_s, {"X-Session-ID": session.id})
    task = asyncio.current_task()
    assert task is not None
    agent.streams.add(task)
    agent.counters.stream_opened()
    try:
        if await wire.open():
            await relay(wire, session.log, session.id, after, heartbeat_s)
    except ConnectionError:
        log.debug("a reader of session %s went away", session.id)
    finally:
        agent.counters.stream_closed()
        agent.streams.discard(task)
    return wire.response


def _execute_body(raw: bytes) -> ExecuteBody:
    try:
        body = _decode_execute(raw)
    except msgspec.ValidationError as error:
        raise from_validation(error) from None
    except msgspec.DecodeError:
        raise invalid("body", "expected a JSON object", "invalid_json") from None
    if body.answer is None and not body.input.strip():
        raise invalid("input", "must not be blank")
    if body.answer is not None and body.session_id is None:
        raise invalid("session_id", "required with answer")
    return body


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not (1 <= len(key) <= 255 and key.isascii() and key.isprintable()):
        raise invalid(
            "Idempotency-Key", "expected 1 to 255 visible ASCII characters", "invalid_header"
        )
    return key


def _event_id(name: str, raw: str | None, session: Session) -> int:
    """A client's last seen event id; absent means just before the latest run's first event."""
    if raw is None:
        return session.latest_run_after
    code = "invalid_header" if name == "Last-Event-ID" else "invalid_request"
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise invalid(name, "expected a non-negative integer", code)
    value = int(raw)
    if value > session.log.last_id:
        raise invalid(name, f"beyond the session's last event id {session.log.last_id}", code)
    if not session.log.holds_after(value):
        raise Problem(410, "events_expired", f"the events after {value} are no longer held")
    return value


def _bounded(name: str, raw: str | None, low: int, high: int, default: int) -> int:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
        raise invalid(name, f"expected an integer from {low} to {high}")
    return int(raw)


def _status_body(session: Session) -> SessionStatusBody:
    pending = session.pending
    question = None
    if pending is not None:
        question = PendingQuestionBody(
            pending.question_id, pending.question, pending.choices, rfc3339(pending.expires_at)
        )
    return SessionStatusBody(
        session_id=session.id,
        status=session.status.value,
        profile_name=session.profile_name,
        last_event_id=session.log.last_id,
        pending_question=question,
        created_at=rfc3339(session.created_at),
        updated_at=rfc3339(session.updated_at),
    )


def _trace_id(request: web.Request) -> str:
    """The trace id of a valid W3C `traceparent`; an invalid one is ignored, as W3C requires."""
    parts = request.headers.get("traceparent", "").split("-")
    with contextlib.suppress(ValueError):
        if len(parts) >= 4 and len(parts[1]) == 32 and int(parts[1], 16):
            return parts[1]
    return "-"


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(body), status=status, content_type="application/json"
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/health", health)
    app.router.add_post("/api/v1/agent/execute", execute)
    app.router.add_get("/api/v1/agent/sessions/{session_id}", status)
    app.router.add_get("/api/v1/agent/sessions/{session_id}/stream", stream)
    app.router.add_get("/api/v1/agent/sessions/{session_id}/events", events)
