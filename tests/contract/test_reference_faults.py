"""Every fault knob of the reference Agent Service, and its effect on the wire
(docs/agent-service-contract.md, "Fault injection")."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from adapters.sse.parser import parse_all
from tests.contract.schema import check_run
from tests.contract.wire import (
    SIMPLE_INPUT,
    AgentHttp,
    body,
    parse,
    polled,
    read_for,
    read_stream,
)

pytestmark = pytest.mark.reference_only


async def arm(reference: AgentHttp, **fault: object) -> dict[str, object]:
    async with reference.http.post(
        reference.base_url + "/reference/faults", json=fault, headers=reference.headers()
    ) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def armed(reference: AgentHttp) -> list[dict[str, object]]:
    status, faults = await reference.json("/reference/faults")
    assert status == 200
    return faults


@pytest.mark.parametrize(
    ("status", "code"),
    [(503, "unavailable"), (500, "internal"), (408, "request_timeout"), (400, "invalid_request")],
)
async def test_an_injected_status_answers_before_anything_runs(
    reference: AgentHttp, status: int, code: str
) -> None:
    before = await reference.counters()

    read = await reference.execute(body(SIMPLE_INPUT), {"X-Fault-Status": str(status)})

    assert (read.status, read.body["status"], read.body["code"]) == (status, status, code)
    assert read.headers["Content-Type"].startswith("application/problem+json")
    assert read.headers.get("Retry-After") == ("1" if status == 503 else None)
    after = await reference.counters()
    assert after["runs_started"] == before["runs_started"]
    assert after["faults_applied"] == before["faults_applied"] + 1


@pytest.mark.parametrize("value", ["7", "Wed, 21 Oct 2015 07:28:00 GMT"])
async def test_retry_after_is_sent_verbatim(reference: AgentHttp, value: str) -> None:
    read = await reference.execute(
        body(SIMPLE_INPUT), {"X-Fault-Status": "503", "X-Fault-Retry-After": value}
    )
    assert read.headers["Retry-After"] == value


async def test_a_fault_count_faults_only_the_first_calls_of_its_scope(reference: AgentHttp) -> None:
    faulty = {"X-Fault-Status": "503", "X-Fault-Count": "2"}
    first_key = {**faulty, "Idempotency-Key": f"count-{uuid.uuid4()}"}
    other_key = {**faulty, "Idempotency-Key": f"count-{uuid.uuid4()}"}

    statuses = [(await reference.execute(body(SIMPLE_INPUT), first_key)).status for _ in range(3)]
    other = (await reference.execute(body(SIMPLE_INPUT), other_key)).status

    assert statuses == [503, 503, 200]
    assert other == 503


async def test_armed_faults_hit_the_next_calls_server_wide_then_run_out(
    reference: AgentHttp,
) -> None:
    armed_fault = await arm(reference, count=2, status=503, retry_after="3")
    assert armed_fault["remaining"] == 2 and armed_fault["routes"] == ["execute"]

    first = await reference.execute(body(SIMPLE_INPUT))
    assert [f["remaining"] for f in await armed(reference)] == [1]
    second = await reference.execute(body(SIMPLE_INPUT))
    third = await reference.execute(body(SIMPLE_INPUT))

    assert (first.status, first.headers["Retry-After"]) == (503, "3")
    assert (second.status, third.status) == (503, 200)
    assert await armed(reference) == []


async def test_armed_faults_act_only_on_their_routes(reference: AgentHttp) -> None:
    run = await reference.run(SIMPLE_INPUT)
    await arm(reference, routes=["status", "events"], count=2, status=500)

    assert (await reference.execute(body(SIMPLE_INPUT))).status == 200
    assert (await reference.status(run.session_id))[0] == 500
    assert (await reference.poll(run.session_id))[0] == 500
    assert (await reference.status(run.session_id))[0] == 200


async def test_disarming_clears_every_armed_fault(reference: AgentHttp) -> None:
    await arm(reference, count=5, status=503)
    async with reference.http.delete(
        reference.base_url + "/reference/faults", headers=reference.headers()
    ) as response:
        assert response.status == 204
    assert (await reference.execute(body(SIMPLE_INPUT))).status == 200


async def test_a_call_s_own_fault_headers_override_the_armed_fault(reference: AgentHttp) -> None:
    await arm(reference, cut_after=1)
    read = await reference.execute(body(SIMPLE_INPUT), {"X-Fault-Cut-After": "2"})
    assert [e.id for e in read.events] == [1, 2] and not read.ended_cleanly


@pytest.mark.parametrize(
    ("fault", "field"),
    [
        ({"status": 200}, "status"),
        ({"count": 0}, "count"),
        ({"routes": ["nowhere"]}, "routes[0]"),
        ({"malformed": "weird"}, "malformed"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_an_invalid_armed_fault_is_refused_naming_the_field(
    reference: AgentHttp, fault: dict[str, object], field: str
) -> None:
    async with reference.http.post(
        reference.base_url + "/reference/faults", json=fault, headers=reference.headers()
    ) as response:
        assert response.status == 400
        assert (await response.json())["errors"][0]["field"] == field


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Fault-Status", "200"),
        ("X-Fault-Status", "soon"),
        ("X-Fault-Count", "0"),
        ("X-Fault-Cut-After", "-1"),
        ("X-Fault-Malformed", "weird"),
        ("X-Fault-Stall-Ms", "9999999"),
        ("X-Fault-Drip-Bytes", "0"),
        ("X-Pace-Event-Delay-Ms", "fast"),
        ("X-Pace-Heartbeat-Ms", "1"),
    ],
)
async def test_an_invalid_knob_header_is_refused_naming_it(
    reference: AgentHttp, header: str, value: str
) -> None:
    headers = {header: value}
    if header == "X-Fault-Count":
        headers["X-Fault-Status"] = "503"
    read = await reference.execute(body(SIMPLE_INPUT), headers)
    assert read.status == 400
    assert read.body["errors"][0]["field"] == header


async def test_delayed_headers_come_after_the_run_started_so_a_retry_attaches_to_it(
    reference: AgentHttp,
) -> None:
    headers = {
        "Idempotency-Key": f"slow-{uuid.uuid4()}",
        "X-Fault-Headers-Delay-Ms": "1500",
        "X-Fault-Count": "1",
    }
    before = await reference.counters()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3), reference.post_execute(body(SIMPLE_INPUT), headers):
            pass

    retried = await reference.execute(body(SIMPLE_INPUT), headers)

    check_run(retried.events, first_id=1)
    after = await reference.counters()
    assert after["runs_started"] - before["runs_started"] == 1
    assert after["idempotent_attaches"] - before["idempotent_attaches"] == 1


async def test_a_first_event_delay_sends_headers_then_only_heartbeats_for_a_while(
    reference: AgentHttp,
) -> None:
    headers = {"X-Fault-First-Event-Delay-Ms": "1000", "X-Pace-Heartbeat-Ms": "50"}
    async with reference.post_execute(body(SIMPLE_INPUT), headers) as response:
        assert response.status == 200
        early = await read_for(response, 0.4)
        raw = early + await response.content.read()

    assert b"id:" not in early
    assert raw.index(b": heartbeat") < raw.index(b"id: 1\n")
    check_run(parse(parse_all([raw])), first_id=1)


async def test_a_cut_after_event_n_breaks_the_body_and_the_run_stays_resumable(
    reference: AgentHttp,
) -> None:
    cut = await reference.execute(body("long 20"), {"X-Fault-Cut-After": "3"})

    assert cut.status == 200 and not cut.ended_cleanly
    assert [e.id for e in cut.events] == [1, 2, 3]
    rest = await reference.resume(cut.session_id, 3)
    assert [e.id for e in rest.events] == list(range(4, 22))
    check_run(cut.events + rest.events, first_id=1)


async def test_a_cut_after_zero_events_leaves_only_the_session_header(
    reference: AgentHttp,
) -> None:
    cut = await reference.execute(body(SIMPLE_INPUT), {"X-Fault-Cut-After": "0"})

    assert cut.events == [] and not cut.ended_cleanly
    whole = await reference.resume(cut.headers["X-Session-ID"], 0)
    check_run(whole.events, first_id=1)


@pytest.mark.parametrize("kind", ["bad-json", "unknown-type", "missing-fields", "no-data"])
async def test_a_malformed_event_replaces_event_n_on_the_wire_only(
    reference: AgentHttp, kind: str
) -> None:
    read = await reference.execute(
        body(SIMPLE_INPUT), {"X-Fault-Malformed": kind, "X-Fault-Malformed-At": "2"}, decode=False
    )
    session_id = read.headers["X-Session-ID"]
    _, page = await reference.poll(session_id, after="0")
    logged = polled(page["events"])
    wire = {int(e.id): e for e in parse_all([read.raw])}

    assert read.ended_cleanly and sorted(wire) == [
        e.id for e in logged if e.id != 2 or kind != "no-data"
    ]
    for event in logged:
        if event.id != 2:
            assert (wire[event.id].event, json.loads(wire[event.id].data)) == (
                event.event,
                event.data,
            )
    if kind == "bad-json":
        assert wire[2].event == logged[1].event
        with pytest.raises(json.JSONDecodeError):
            json.loads(wire[2].data)
    elif kind == "unknown-type":
        assert (wire[2].event, json.loads(wire[2].data)) == ("PROGRESS", logged[1].data)
    elif kind == "missing-fields":
        assert (wire[2].event, json.loads(wire[2].data)) == (
            logged[1].event,
            {"session_id": session_id},
        )
    else:
        assert b"id: 2\nevent: %s\n\n" % logged[1].event.encode() in read.raw


async def test_a_stall_writes_nothing_at_all_for_its_time_then_goes_on(
    reference: AgentHttp,
) -> None:
    headers = {
        "X-Fault-Stall-Ms": "1000",
        "X-Fault-Stall-After": "2",
        "X-Pace-Heartbeat-Ms": "20",
        "X-Pace-Event-Delay-Ms": "0",
    }
    async with reference.post_execute(body(SIMPLE_INPUT), headers) as response:
        head = await read_stream(response, limit=2)
        during = await read_for(response, 0.4)
        rest = await read_stream(response)

    assert [e.id for e in head.events] == [1, 2]
    assert during == b"", "not even a heartbeat during a stall"
    check_run(head.events + rest.events, first_id=1)


async def test_a_stall_before_the_first_event_holds_back_everything(reference: AgentHttp) -> None:
    headers = {"X-Fault-Stall-Ms": "1000", "X-Fault-Stall-After": "0", "X-Pace-Heartbeat-Ms": "20"}
    async with reference.post_execute(body(SIMPLE_INPUT), headers) as response:
        assert response.status == 200
        assert await read_for(response, 0.4) == b""
        rest = await read_stream(response)
    check_run(rest.events, first_id=1)


async def test_a_drip_sends_the_same_events_in_small_pieces(reference: AgentHttp) -> None:
    headers = {"X-Fault-Drip-Ms": "1", "X-Fault-Drip-Bytes": "1"}
    dripped = await reference.execute(body("this is ambiguous"), headers)

    _, page = await reference.poll(dripped.session_id, after="0")
    assert dripped.events == polled(page["events"])
    assert "“" in dripped.events[0].data["text"], "multi-byte characters arrive split and whole"
    assert dripped.chunks > 4 * len(dripped.events)


async def test_stream_shaping_faults_act_on_resumed_streams_too(reference: AgentHttp) -> None:
    run = await reference.run("long 10")
    resumed = await reference.resume(run.session_id, 2, {"X-Fault-Cut-After": "3"})
    assert [e.id for e in resumed.events] == [3, 4, 5] and not resumed.ended_cleanly


async def test_a_fault_on_health_reports_the_service_unavailable(reference: AgentHttp) -> None:
    async with reference.http.get(
        reference.base_url + "/health", headers={"X-Fault-Status": "503"}
    ) as response:
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"


@pytest.mark.parametrize("route", ["status", "events"])
async def test_delayed_headers_hold_back_json_answers_too(reference: AgentHttp, route: str) -> None:
    run = await reference.run(SIMPLE_INPUT)
    path = f"/api/v1/agent/sessions/{run.session_id}" + ("/events" if route == "events" else "")
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3), reference.get(path, {"X-Fault-Headers-Delay-Ms": "1500"}):
            pass
    async with reference.get(path) as response:
        assert response.status == 200
