"""The Agent Service under test: the reference service in-process on a loopback port by
default, or the one at AGENT_SERVICE_URL (with AGENT_API_KEY) when that is set.

Tests marked `reference_only` use the reference service's testing knobs and always run against
an in-process reference service (docs/agent-service-contract.md, "Testing")."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from entrypoints.reference_agent import (
    ReferenceAgentConfig,
    RunningReferenceAgent,
    start_reference_agent,
)
from tests.contract.wire import AgentHttp

KEY = "contract-suite-key"
FAST = {"first_event_ms": 5, "event_delay_ms": 5}

StartReference = Callable[..., Awaitable[tuple[AgentHttp, RunningReferenceAgent]]]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


@pytest.fixture
async def start_reference(http: aiohttp.ClientSession) -> AsyncIterator[StartReference]:
    """Starts in-process reference services with the given configuration (fast pacing unless
    told otherwise); all are stopped at the end of the test."""
    running: list[RunningReferenceAgent] = []

    async def start(**config: Any) -> tuple[AgentHttp, RunningReferenceAgent]:
        agent = await start_reference_agent(ReferenceAgentConfig(api_key=KEY, **{**FAST, **config}))
        running.append(agent)
        return AgentHttp(agent.url, KEY, http), agent

    yield start
    await http.close()
    for agent in running:
        await agent.close()


@pytest.fixture
async def agent(start_reference: StartReference, http: aiohttp.ClientSession) -> AgentHttp:
    """The Agent Service the contract is checked against."""
    url = os.environ.get("AGENT_SERVICE_URL")
    if not url:
        speaker, _ = await start_reference()
        return speaker
    key = os.environ.get("AGENT_API_KEY")
    if not key:
        pytest.fail("AGENT_SERVICE_URL is set: set AGENT_API_KEY to its API key as well")
    return AgentHttp(url, key, http)


@pytest.fixture
async def reference(start_reference: StartReference) -> AgentHttp:
    """Always the in-process reference service, for its testing knobs."""
    speaker, _ = await start_reference()
    return speaker
