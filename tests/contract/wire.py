"""Speaking the Agent Service contract over raw HTTP: aiohttp plus convo's SSE parser, and
nothing of a client library (no retries, no resumption, no mapping)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from adapters.sse.parser import SseParser

PROFILE = os.environ.get("AGENT_CONTRACT_PROFILE", "default")
SIMPLE_INPUT = os.environ.get("AGENT_CONTRACT_SIMPLE_INPUT", "search the docs for the VPN guide")
ASK_INPUT = os.environ.get("AGENT_CONTRACT_ASK_INPUT", "this request is ambiguous")
FAIL_INPUT = os.environ.get("AGENT_CONTRACT_FAIL_INPUT", "fail please")
LONG_INPUT = os.environ.get("AGENT_CONTRACT_LONG_INPUT", "long 200")
USER = {"user_id": "contract-user", "org_id": "contract-org", "permissions": ["docs:read"]}
EXECUTE = "/api/v1/agent/execute"


@dataclass(frozen=True)
class Event:
    id: int
    event: str
    data: dict[str, Any]


@dataclass
class StreamRead:
    """What one streaming response carried, read to its end (clean or broken)."""

    status: int
    headers: CIMultiDictProxy[str]
    events: list[Event] = field(default_factory=list)
    raw: bytes = b""
    chunks: int = 0
    ended_cleanly: bool = True
    body: Any = None

    @property
    def heartbeats(self) -> int:
        return self.raw.count(b": heartbeat")

    @property
    def session_id(self) -> str:
        return self.events[0].data["session_id"]

    @property
    def last(self) -> Event:
        return self.events[-1]


def body(text: str, session_id: str | None = None, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "profile_name": PROFILE,
        "input": text,
        "chat_history": [],
        "user_context": USER,
        **extra,
    }
    if session_id is not None:
        payload["session_id"] = session_id
    return payload


def parse(chunk_events: list[Any]) -> list[Event]:
    return [Event(int(e.id), e.event, json.loads(e.data)) for e in chunk_events]


async def read_stream(
    response: aiohttp.ClientResponse, limit: int | None = None, decode: bool = True
) -> StreamRead:
    """Read an SSE response to its end, or until `limit` events; a broken body is recorded as
    `ended_cleanly=False`, not raised. With `decode=False` only the raw bytes are kept."""
    read = StreamRead(response.status, response.headers)
    if response.status != 200 or not response.content_type.startswith("text/event-stream"):
        read.body = await response.json(content_type=None) if response.status != 204 else None
        return read
    parser = SseParser()
    try:
        async for chunk in response.content.iter_any():
            read.raw += chunk
            read.chunks += 1
            if decode:
                read.events += parse(parser.feed(chunk))
            if limit is not None and len(read.events) >= limit:
                break
    except aiohttp.ClientPayloadError:
        read.ended_cleanly = False
    return read


class AgentHttp:
    """A thin speaker of the contract for tests: one call, one answer, nothing hidden."""

    def __init__(self, base_url: str, api_key: str, http: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.http = http

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {"X-API-Key": self.api_key, **(extra or {})}

    def post_execute(
        self, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> Any:
        return self.http.post(self.base_url + EXECUTE, json=payload, headers=self.headers(headers))

    async def execute(
        self,
        payload: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
        decode: bool = True,
    ) -> StreamRead:
        async with self.post_execute(payload, headers) as response:
            return await read_stream(response, decode=decode)

    async def run(self, text: str, session_id: str | None = None, **extra: Any) -> StreamRead:
        """Execute a turn and insist that it streamed a whole run."""
        read = await self.execute(body(text, session_id, **extra))
        assert read.status == 200, read.body
        assert read.ended_cleanly and read.events
        return read

    def get(self, path: str, headers: Mapping[str, str] | None = None, **params: Any) -> Any:
        return self.http.get(self.base_url + path, headers=self.headers(headers), params=params)

    async def resume(
        self, session_id: str, last_event_id: int | None, headers: Mapping[str, str] | None = None
    ) -> StreamRead:
        extra = dict(headers or {})
        if last_event_id is not None:
            extra["Last-Event-ID"] = str(last_event_id)
        async with self.get(f"/api/v1/agent/sessions/{session_id}/stream", extra) as response:
            return await read_stream(response)

    async def json(self, path: str, **params: Any) -> tuple[int, Any]:
        async with self.get(path, **params) as response:
            return response.status, await response.json(content_type=None)

    async def status(self, session_id: str) -> tuple[int, Any]:
        return await self.json(f"/api/v1/agent/sessions/{session_id}")

    async def poll(self, session_id: str, **params: Any) -> tuple[int, Any]:
        return await self.json(f"/api/v1/agent/sessions/{session_id}/events", **params)

    async def counters(self) -> dict[str, int]:
        status, counters = await self.json("/reference/counters")
        assert status == 200
        return counters


async def read_for(response: aiohttp.ClientResponse, seconds: float) -> bytes:
    """Whatever arrives within `seconds` (the body's end stops it sooner)."""
    received = b""
    try:
        async with asyncio.timeout(seconds):
            while chunk := await response.content.readany():
                received += chunk
    except TimeoutError:
        pass
    return received


def polled(events: list[dict[str, Any]]) -> list[Event]:
    return [Event(e["id"], e["event"], e["data"]) for e in events]
