from __future__ import annotations

import pytest

from entrypoints.reference_agent.faults import (
    NO_FAULT,
    ArmRequest,
    Faults,
    FaultSpec,
    injected,
    merge,
    pacing,
)
from entrypoints.reference_agent.problems import Problem


def test_headers_become_a_validated_fault() -> None:
    fault = Faults().resolve(
        "execute", {"X-Fault-Cut-After": "3", "X-Fault-Malformed": "no-data", "X-Other": "x"}
    )
    assert fault == FaultSpec(cut_after=3, malformed="no-data")


def test_no_header_is_no_fault() -> None:
    assert Faults().resolve("execute", {}).empty


@pytest.mark.parametrize(
    ("header", "value"),
    [("X-Fault-Status", "302"), ("X-Fault-Drip-Ms", "-1"), ("X-Fault-Malformed-At", "0")],
)
def test_a_bad_header_is_a_400_naming_it(header: str, value: str) -> None:
    with pytest.raises(Problem) as refused:
        Faults().resolve("execute", {header: value})
    assert refused.value.status == 400 and refused.value.errors[0].field == header


def test_a_count_limits_header_faults_per_scope_and_route() -> None:
    faults = Faults()
    headers = {"X-Fault-Status": "503", "X-Fault-Count": "1", "X-Fault-Key": "a"}
    assert faults.resolve("execute", headers).status == 503
    assert faults.resolve("execute", headers).empty
    assert faults.resolve("stream", headers).status == 503
    assert faults.resolve("execute", {**headers, "X-Fault-Key": "b"}).status == 503


def test_armed_faults_are_consumed_in_order_by_matching_routes() -> None:
    faults = Faults()
    faults.arm(ArmRequest(status=500, count=1, routes=["status"]))
    faults.arm(ArmRequest(status=503, count=2))
    assert faults.resolve("execute", {}).status == 503
    assert faults.resolve("status", {}).status == 500
    assert faults.resolve("status", {}).empty
    assert [a.remaining for a in faults.armed()] == [1]
    faults.disarm()
    assert faults.resolve("execute", {}).empty


def test_a_call_s_headers_override_the_armed_fault_field_by_field() -> None:
    merged = merge(FaultSpec(cut_after=1, stall_ms=5), FaultSpec(cut_after=4))
    assert merged == FaultSpec(cut_after=4, stall_ms=5)
    assert merge(NO_FAULT, NO_FAULT).empty


def test_an_injected_503_carries_retry_after() -> None:
    problem = injected(FaultSpec(status=503))
    assert (problem.status, problem.code, problem.headers) == (
        503,
        "unavailable",
        {"Retry-After": "1"},
    )
    assert injected(FaultSpec(status=503, retry_after="9")).headers == {"Retry-After": "9"}
    assert injected(FaultSpec(status=418)).code == "injected_fault"


def test_pacing_headers_are_read_and_bounded() -> None:
    assert pacing({"X-Pace-Event-Delay-Ms": "0"}).event_delay_ms == 0
    with pytest.raises(Problem):
        pacing({"X-Pace-Heartbeat-Ms": "5"})
