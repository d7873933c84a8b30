"""Clients over a scripted transport, with recorded (not slept) backoff waits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.agent_service import AgentClientConfig, AgentServiceClient
from application.ports.agent_gateway import AgentTurnRequest, UserContext
from domain.agent_events import AgentEvent
from domain.messages import ChatTurn, Role
from tests.fakes.agent_transport import FakeTransport
from tests.fakes.metrics import RecordingMetrics

KEY = "agent-key-unit-3f9c"
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


class RecordingSleep:
    """Stands in for asyncio.sleep: records each wait and yields to the loop once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def request(**changes: Any) -> AgentTurnRequest:
    fields: dict[str, Any] = {
        "profile_name": "research",
        "input": "search the docs",
        "chat_history": [ChatTurn(Role.USER, "hi"), ChatTurn(Role.ASSISTANT, "hello")],
        "user_context": UserContext("u-1", "org-1", ("docs:read",)),
    }
    return AgentTurnRequest(**{**fields, **changes})


class Harness:
    def __init__(self, transport: FakeTransport, **config: Any) -> None:
        self.transport = transport
        self.sleep = RecordingSleep()
        self.metrics = RecordingMetrics()
        settings: dict[str, Any] = {"base_url": "http://agent.test", "api_key": KEY}
        self.config = AgentClientConfig(**{**settings, **config})
        self.client = AgentServiceClient(
            self.config,
            transport=transport,
            metrics=self.metrics,
            sleep=self.sleep,
            uniform=lambda: 0.5,
            now=lambda: NOW,
            new_key=lambda: "generated-key",
        )

    async def run(self, turn: AgentTurnRequest | None = None) -> list[AgentEvent]:
        return [event async for event in self.client.execute_agent(turn or request())]

    async def resumed(self, session_id: str, last: int | None) -> list[AgentEvent]:
        return [event async for event in self.client.resume(session_id, last)]


@pytest.fixture
def harness() -> Callable[..., Harness]:
    return Harness
