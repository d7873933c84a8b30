from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import uvicorn

from adapters.sse.parser import SseParser
from entrypoints.auth import issue_token
from entrypoints.container import Container, build_container
from entrypoints.http.app import create_app
from entrypoints.reference_agent.server import RunningReferenceAgent
from entrypoints.reference_agent_runner import start_embedded_agent
from entrypoints.serve import bind
from entrypoints.settings import load_settings
from tests.api.conftest import SECRET, bearer, settings_for


@dataclass
class LiveServer:
    base_url: str
    container: Container
    http: aiohttp.ClientSession

    @property
    def api(self) -> str:
        return self.base_url + "/api/v1"

    async def conversation(self, user: str = "alice") -> str:
        async with self.http.post(
            f"{self.api}/conversations", json={}, headers=bearer(user)
        ) as response:
            assert response.status == 201
            return (await response.json())["id"]

    async def send(self, conversation_id: str, content: str) -> dict[str, Any]:
        async with self.http.post(
            f"{self.api}/conversations/{conversation_id}/messages",
            json={"content": content},
            headers=bearer(),
        ) as response:
            assert response.status == 202, await response.text()
            return await response.json()


@asynccontextmanager
async def running_server(
    database_url: str, prepare: Callable[[Container], None] = lambda _: None, **env: str
) -> AsyncIterator[LiveServer]:
    """The app under uvicorn on a free loopback port, in the test's own event loop;
    `prepare` sees the container before the app starts."""
    overrides = {"CONVO_ECHO_DELAY_MS": "20", "CONVO_SSE_HEARTBEAT_S": "0.2", **env}
    container = build_container(settings_for(database_url, **overrides))
    prepare(container)
    listener = bind("127.0.0.1", 0)
    config = uvicorn.Config(
        create_app(container, SECRET), log_config=None, ws="websockets-sansio", lifespan="on"
    )
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=[listener]))
    while not server.started:
        await asyncio.sleep(0.01)
    port = listener.getsockname()[1]
    try:
        async with aiohttp.ClientSession() as http:
            yield LiveServer(f"http://127.0.0.1:{port}", container, http)
    finally:
        server.should_exit = True
        await serving


@pytest.fixture
async def live_server(database_url: str) -> AsyncIterator[LiveServer]:
    async with running_server(database_url) as server:
        yield server


class SseReader:
    """Reads live envelopes from an SSE response, keeping what a chunk held beyond the event
    a caller waited for."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._parser = SseParser()
        self._pending: list[dict[str, Any]] = []
        self.heartbeats = 0

    async def until(self, event_type: str) -> list[dict[str, Any]]:
        taken: list[dict[str, Any]] = []
        async with asyncio.timeout(10):
            while True:
                while self._pending:
                    taken.append(self._pending.pop(0))
                    if taken[-1]["type"] == event_type:
                        return taken
                chunk = await self._response.content.readany()
                if not chunk:
                    raise AssertionError(f"stream ended before {event_type}")
                self.heartbeats += chunk.count(b": heartbeat")
                for event in self._parser.feed(chunk):
                    envelope = json.loads(event.data)
                    assert event.id == str(envelope["seq"])
                    self._pending.append(envelope)


AGENT_KEY = "e2e-agent-key-" + "k" * 24


@pytest.fixture
async def reference_agent() -> AsyncIterator[RunningReferenceAgent]:
    """The reference Agent Service on a free loopback port, quickly paced."""
    settings = load_settings(
        {
            "CONVO_AGENT_API_KEY": AGENT_KEY,
            "CONVO_REFERENCE_AGENT_FIRST_EVENT_MS": "10",
            "CONVO_REFERENCE_AGENT_EVENT_DELAY_MS": "3",
        }
    )
    _, running = await start_embedded_agent(settings)
    yield running
    await running.close()


def agent_env(agent: RunningReferenceAgent, **env: str) -> dict[str, str]:
    return {"CONVO_AGENT_SERVICE_URL": agent.url, "CONVO_AGENT_API_KEY": AGENT_KEY, **env}


@pytest.fixture
async def agent_server(
    database_url: str, reference_agent: RunningReferenceAgent
) -> AsyncIterator[LiveServer]:
    """The service, on either database, delegating to the reference Agent Service."""
    async with running_server(database_url, **agent_env(reference_agent)) as server:
        yield server


class LiveSocket:
    """A WebSocket client of one conversation that keeps every envelope it receives."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, server: LiveServer, conversation_id: str, since: int | None = None):  # type: ignore[no-untyped-def]
        token = issue_token(SECRET, "alice", "acme")
        query = f"access_token={token}" + (f"&since={since}" if since is not None else "")
        url = f"{server.api}/conversations/{conversation_id}/ws?{query}".replace("http", "ws", 1)
        return cls(await server.http.ws_connect(url))

    async def until(self, event_type: str, message_id: str | None = None) -> list[dict[str, Any]]:
        """Every envelope received, up to and including the first `event_type` (about
        `message_id` when given) not seen before this call."""
        start = len(self.events)
        async with asyncio.timeout(20):
            while True:
                for event in self.events[start:]:
                    if event["type"] == event_type and message_id in (None, event["message_id"]):
                        return self.events
                self.events.append(await self.ws.receive_json())

    async def until_ended(self, message_id: str) -> dict[str, Any]:
        """The event that ended the message (completed or failed), waiting for it if needed."""
        async with asyncio.timeout(60):
            while True:
                for event in self.events:
                    ended = event["type"] in ("message.completed", "message.failed")
                    if ended and event["message_id"] == message_id:
                        return event
                self.events.append(await self.ws.receive_json())

    async def close(self) -> None:
        await self.ws.close()
