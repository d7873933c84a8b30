"""Fault injection and pacing knobs, set per request by headers or armed server-wide.

docs/agent-service-contract.md ("Fault injection") describes every knob. A call resolves its
knobs once, before it does anything else; invalid header values are a 400 naming the header.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import OrderedDict
from collections.abc import Mapping
from typing import Annotated, Literal, TypeVar

import msgspec
from msgspec import Meta

from entrypoints.reference_agent.problems import Problem, invalid

Route = Literal["execute", "stream", "events", "status", "chat", "health"]
Millis = Annotated[int, Meta(ge=0, le=600_000)]
MalformedKind = Literal["bad-json", "unknown-type", "missing-fields", "no-data"]

REMEMBERED_SCOPES = 10_000
INJECTED_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "session_not_found",
    408: "request_timeout",
    409: "run_in_progress",
    410: "events_expired",
    413: "payload_too_large",
    422: "idempotency_key_reused",
    500: "internal",
    503: "unavailable",
}


class FaultSpec(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    status: Annotated[int, Meta(ge=400, le=599)] | None = None
    retry_after: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[ -~]+$")] | None = (
        None
    )
    headers_delay_ms: Millis | None = None
    first_event_delay_ms: Millis | None = None
    cut_after: Annotated[int, Meta(ge=0)] | None = None
    malformed: MalformedKind | None = None
    malformed_at: Annotated[int, Meta(ge=1)] | None = None
    stall_ms: Millis | None = None
    stall_after: Annotated[int, Meta(ge=0)] | None = None
    drip_ms: Millis | None = None
    drip_bytes: Annotated[int, Meta(ge=1, le=65_536)] | None = None

    @property
    def empty(self) -> bool:
        return self == NO_FAULT


NO_FAULT = FaultSpec()


class ArmRequest(
    FaultSpec, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=True
):
    count: Annotated[int, Meta(ge=1, le=1_000_000)] = 1
    routes: Annotated[list[Route], Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["execute"]
    )


class ArmedFault(msgspec.Struct, kw_only=True):
    id: int
    remaining: int
    routes: list[Route]
    fault: FaultSpec


class Pacing(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    first_event_ms: Millis | None = None
    event_delay_ms: Millis | None = None
    heartbeat_ms: Annotated[int, Meta(ge=10, le=600_000)] | None = None


FAULT_HEADERS = {
    "X-Fault-Status": "status",
    "X-Fault-Retry-After": "retry_after",
    "X-Fault-Headers-Delay-Ms": "headers_delay_ms",
    "X-Fault-First-Event-Delay-Ms": "first_event_delay_ms",
    "X-Fault-Cut-After": "cut_after",
    "X-Fault-Malformed": "malformed",
    "X-Fault-Malformed-At": "malformed_at",
    "X-Fault-Stall-Ms": "stall_ms",
    "X-Fault-Stall-After": "stall_after",
    "X-Fault-Drip-Ms": "drip_ms",
    "X-Fault-Drip-Bytes": "drip_bytes",
}
PACING_HEADERS = {
    "X-Pace-First-Event-Ms": "first_event_ms",
    "X-Pace-Event-Delay-Ms": "event_delay_ms",
    "X-Pace-Heartbeat-Ms": "heartbeat_ms",
}
COUNT_HEADER = "X-Fault-Count"
KEY_HEADER = "X-Fault-Key"


T = TypeVar("T", bound=msgspec.Struct)


def from_headers(headers: Mapping[str, str], names: Mapping[str, str], kind: type[T]) -> T:
    """The knobs given as headers, validated; a bad value is a 400 naming its header."""
    raw = {field: headers[name] for name, field in names.items() if name in headers}
    try:
        return msgspec.convert(raw, kind, strict=False)
    except msgspec.ValidationError as error:
        field = str(error).rpartition("$.")[2].rstrip("`")
        header = next((name for name, f in names.items() if f == field), "X-Fault")
        raise invalid(header, str(error).partition(" - at ")[0], "invalid_header") from None


def merge(base: FaultSpec, override: FaultSpec) -> FaultSpec:
    changes = {f: v for f in override.__struct_fields__ if (v := getattr(override, f)) is not None}
    return msgspec.structs.replace(base, **changes)


class Faults:
    """The armed faults (consumed in arming order, one per call) and the counts of header
    faults per scope."""

    def __init__(self) -> None:
        self._armed: list[ArmedFault] = []
        self._ids = itertools.count(1)
        self._scopes: OrderedDict[bytes, int] = OrderedDict()

    def arm(self, request: ArmRequest) -> ArmedFault:
        fields = {f: getattr(request, f) for f in FaultSpec.__struct_fields__}
        armed = ArmedFault(
            id=next(self._ids),
            remaining=request.count,
            routes=list(request.routes),
            fault=FaultSpec(**fields),
        )
        self._armed.append(armed)
        return armed

    def armed(self) -> list[ArmedFault]:
        return list(self._armed)

    def disarm(self) -> None:
        self._armed.clear()

    def resolve(self, route: Route, headers: Mapping[str, str]) -> FaultSpec:
        """The faults this call gets: the next armed one for its route, overridden by its own
        headers (within their X-Fault-Count)."""
        own = from_headers(headers, FAULT_HEADERS, FaultSpec)
        if not own.empty and COUNT_HEADER in headers and self._spent(route, own, headers):
            own = NO_FAULT
        return merge(self._take(route), own)

    def _take(self, route: Route) -> FaultSpec:
        for armed in self._armed:
            if route in armed.routes:
                armed.remaining -= 1
                if armed.remaining == 0:
                    self._armed.remove(armed)
                return armed.fault
        return NO_FAULT

    def _spent(self, route: Route, spec: FaultSpec, headers: Mapping[str, str]) -> bool:
        try:
            count = int(headers[COUNT_HEADER])
        except ValueError:
            count = 0
        if not 1 <= count <= 1_000_000:
            raise invalid(COUNT_HEADER, "expected an integer from 1 to 1000000", "invalid_header")
        scope = headers.get(KEY_HEADER) or headers.get("Idempotency-Key") or ""
        key = hashlib.sha256(msgspec.json.encode([route, scope, spec])).digest()
        seen = self._scopes.pop(key, 0)
        self._scopes[key] = seen + 1
        if len(self._scopes) > REMEMBERED_SCOPES:
            self._scopes.popitem(last=False)
        return seen >= count


def pacing(headers: Mapping[str, str]) -> Pacing:
    return from_headers(headers, PACING_HEADERS, Pacing)


def injected(spec: FaultSpec) -> Problem:
    """The problem an injected status answers with."""
    status = spec.status or 500
    headers = {}
    if spec.retry_after is not None:
        headers["Retry-After"] = spec.retry_after
    elif status == 503:
        headers["Retry-After"] = "1"
    code = INJECTED_CODES.get(status, "unavailable" if status >= 500 else "injected_fault")
    return Problem(status, code, f"HTTP {status} injected by the reference service", (), headers)
