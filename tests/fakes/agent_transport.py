"""A scripted HTTP transport for the Agent Service client's unit tests.

Each call takes the next scripted answer: a `FakeResponse` (status, headers, body parts) or a
transport failure to raise. A body part is bytes, an exception to raise from `chunk()`, or
`STALL` (wait forever, as a silent peer does). Every request is recorded. The same contract
tests as `AiohttpTransport` check it (tests/integration/test_agent_transport.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.agent_service.transport import HttpResponse, HttpTransport, StreamBroken

STALL = object()


def sse(event_id: int, kind: str, session_id: str | None = "s-1", **data: Any) -> bytes:
    """One Agent Service event on the wire."""
    if session_id is not None:
        data = {"session_id": session_id, **data}
    return f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data)}\n\n".encode()


def chunks(n: int, first: int = 1, session_id: str = "s-1") -> list[bytes]:
    return [sse(i, "ANSWER_CHUNK", session_id, text=f"part {i} ") for i in range(first, n + 1)]


def complete(event_id: int, session_id: str = "s-1") -> bytes:
    return sse(event_id, "COMPLETE", session_id, answer="done")


@dataclass
class FakeResponse(HttpResponse):
    status: int = 200
    headers: Mapping[str, str] = field(
        default_factory=lambda: {"Content-Type": "text/event-stream"}
    )
    parts: Sequence[object] = ()
    closed: bool = False

    def __post_init__(self) -> None:
        self._pending = list(self.parts)

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    async def body(self) -> bytes:
        found = b""
        while part := await self.chunk():
            found += part
        return found

    async def chunk(self) -> bytes:
        if not self._pending:
            return b""
        part = self._pending.pop(0)
        if part is STALL:
            await asyncio.Event().wait()
        if isinstance(part, BaseException):
            raise part
        await asyncio.sleep(0)
        return part  # type: ignore[return-value]

    def close(self) -> None:
        self.closed = True


def stream(*parts: object, session_id: str | None = "s-1") -> FakeResponse:
    headers = {"Content-Type": "text/event-stream; charset=utf-8"}
    if session_id is not None:
        headers["X-Session-ID"] = session_id
    return FakeResponse(200, headers, parts)


def problem(status: int, detail: str = "", **headers: str) -> FakeResponse:
    body = json.dumps({"title": "Problem", "status": status, "detail": detail}).encode()
    return FakeResponse(status, {"Content-Type": "application/problem+json", **headers}, [body])


def json_response(document: object, status: int = 200) -> FakeResponse:
    return FakeResponse(
        status, {"Content-Type": "application/json"}, [json.dumps(document).encode()]
    )


BROKEN = StreamBroken("ClientPayloadError")


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None


class FakeTransport(HttpTransport):
    def __init__(self, *answers: FakeResponse | BaseException) -> None:
        self._answers = list(answers)
        self.sent: list[Sent] = []
        self.responses: list[FakeResponse] = []

    def then(self, *answers: FakeResponse | BaseException) -> FakeTransport:
        self._answers.extend(answers)
        return self

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        headers_timeout_s: float,
    ) -> HttpResponse:
        self.sent.append(Sent(method, url, dict(headers), body))
        if not self._answers:
            raise AssertionError(f"unscripted call: {method} {url}")
        answer = self._answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        self.responses.append(answer)
        return answer
