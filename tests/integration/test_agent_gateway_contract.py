"""What every AgentGateway does, checked on the real client (against the reference Agent
Service over loopback) and on the scripted fake the use-case tests rely on, so the fake cannot
drift from the adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from adapters.agent_service import AgentClientConfig, AgentServiceClient
from application.ports.agent_gateway import AgentGateway, AgentTurnRequest, UserContext
from domain.agent_events import (
    AgentEvent,
    AnswerChunk,
    Thought,
    ToolFinished,
    ToolStarted,
    TurnCompleted,
)
from entrypoints.reference_agent import ReferenceAgentConfig, start_reference_agent
from tests.fakes.delegation import ScriptedAgentGateway

KEY = "gateway-contract-key"
TURN = AgentTurnRequest(
    profile_name="default",
    input="search the docs for the VPN guide",
    chat_history=[],
    user_context=UserContext("u-1", "org-1"),
)


def scripted_search() -> list[AgentEvent]:
    session = "s-1"
    return [
        Thought(event_id=1, session_id=session, text="I should search"),
        ToolStarted(event_id=2, session_id=session, call_id="c", tool="search", input={}),
        ToolFinished(event_id=3, session_id=session, call_id="c", tool="search", output="ok"),
        AnswerChunk(event_id=4, session_id=session, text="The VPN "),
        AnswerChunk(event_id=5, session_id=session, text="guide is "),
        AnswerChunk(event_id=6, session_id=session, text="here."),
        TurnCompleted(event_id=7, session_id=session, answer="The VPN guide is here."),
    ]


@dataclass
class Subject:
    gateway: AgentGateway


@pytest.fixture(params=["client", "scripted"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    if request.param == "scripted":
        yield Subject(ScriptedAgentGateway(scripted_search()))
        return
    config = ReferenceAgentConfig(api_key=KEY, first_event_ms=1, event_delay_ms=1, access_log=False)
    reference = await start_reference_agent(config)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        client = AgentServiceClient(
            AgentClientConfig(base_url=reference.url, api_key=KEY), session=http
        )
        yield Subject(client)
    await reference.close()


async def run(gateway: AgentGateway) -> list[AgentEvent]:
    return [event async for event in gateway.execute_agent(TURN)]


async def test_a_run_ends_with_exactly_one_terminal_event_in_id_order(subject: Subject) -> None:
    events = await run(subject.gateway)
    assert [e.event_id for e in events] == list(range(1, len(events) + 1))
    assert [e.is_terminal for e in events] == [False] * (len(events) - 1) + [True]
    assert len({e.session_id for e in events}) == 1 and events[0].session_id


async def test_the_answer_chunks_add_up_to_the_completed_answer(subject: Subject) -> None:
    events = await run(subject.gateway)
    chunks = "".join(e.text for e in events if isinstance(e, AnswerChunk))
    assert isinstance(events[-1], TurnCompleted) and events[-1].answer == chunks


async def test_resume_and_poll_return_the_rest_of_the_run(subject: Subject) -> None:
    events = await run(subject.gateway)
    session = events[0].session_id or ""
    resumed = [e async for e in subject.gateway.resume(session, 2)]
    page = await subject.gateway.poll_events(session, 2)
    assert resumed == events[2:] == list(page.events)
    assert page.ended


async def test_resume_from_the_start_replays_the_whole_run(subject: Subject) -> None:
    events = await run(subject.gateway)
    assert [e async for e in subject.gateway.resume(events[0].session_id or "", None)] == events


async def test_a_healthy_service_says_so(subject: Subject) -> None:
    assert await subject.gateway.health() is True
