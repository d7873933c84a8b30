"""Sessions, their expiry and eviction, and the engine's runs, on a clock the test moves."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from entrypoints.reference_agent.config import ReferenceAgentConfig
from entrypoints.reference_agent.engine import RunPacing
from entrypoints.reference_agent.faults import Pacing
from entrypoints.reference_agent.problems import Problem
from entrypoints.reference_agent.service import ReferenceAgent
from entrypoints.reference_agent.sessions import Status
from entrypoints.reference_agent.wire import ExecuteBody, UserContextBody

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
INSTANT = Pacing(first_event_ms=0, event_delay_ms=0)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def turn(text: str, session_id: str | None = None) -> ExecuteBody:
    return ExecuteBody(
        profile_name="p",
        input=text,
        chat_history=[],
        user_context=UserContextBody("u", "o"),
        session_id=session_id,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def agent(clock: Clock) -> ReferenceAgent:
    config = ReferenceAgentConfig(api_key="k", question_ttl_s=60, session_ttl_s=600, max_sessions=3)
    service = ReferenceAgent(config, clock)
    yield service  # type: ignore[misc]
    await service.close()


async def finished(agent: ReferenceAgent, text: str, session_id: str | None = None) -> str:
    session, _ = agent.execute(turn(text, session_id), None, INSTANT)
    while session.status is Status.RUNNING:
        await asyncio.sleep(0)
    return session.id


async def test_a_run_moves_its_session_to_the_status_of_its_terminal_event(
    agent: ReferenceAgent,
) -> None:
    assert agent.session(await finished(agent, "hello")).status is Status.COMPLETED
    assert agent.session(await finished(agent, "fail")).status is Status.FAILED
    asked = agent.session(await finished(agent, "ambiguous"))
    assert asked.status is Status.AWAITING_USER and asked.pending is not None


async def test_a_question_expires_at_its_time_and_the_session_becomes_idle(
    agent: ReferenceAgent, clock: Clock
) -> None:
    session = agent.session(await finished(agent, "ambiguous"))
    clock.advance(59)
    assert agent.session(session.id).status is Status.AWAITING_USER
    clock.advance(1)
    assert agent.session(session.id).status is Status.IDLE
    assert session.pending is None


async def test_finished_sessions_are_evicted_after_their_idle_time_only(
    agent: ReferenceAgent, clock: Clock
) -> None:
    done = await finished(agent, "hello")
    asking = await finished(agent, "ambiguous")
    clock.advance(599)
    assert agent.store.evict_idle() == 0
    clock.advance(1)
    assert agent.store.evict_idle() == 1
    with pytest.raises(Problem):
        agent.session(done)
    clock.advance(59)
    assert agent.store.evict_idle() == 0, "idle only since its question expired, at 60 s"
    clock.advance(1)
    assert agent.store.evict_idle() == 1
    with pytest.raises(Problem):
        agent.session(asking)


async def test_a_full_store_makes_room_from_idle_sessions_or_refuses(
    agent: ReferenceAgent, clock: Clock
) -> None:
    for _ in range(3):
        await finished(agent, "hello")
    with pytest.raises(Problem) as refused:
        agent.execute(turn("hello"), None, INSTANT)
    assert (refused.value.status, refused.value.code) == (503, "at_capacity")
    clock.advance(600)
    await finished(agent, "hello")
    assert len(agent.store) == 1


async def test_an_idempotency_key_is_forgotten_with_its_session(
    agent: ReferenceAgent, clock: Clock
) -> None:
    session, _ = agent.execute(turn("hello"), "key", INSTANT)
    while session.status is Status.RUNNING:
        await asyncio.sleep(0)
    clock.advance(600)
    agent.store.evict_idle()
    again, _ = agent.execute(turn("hello"), "key", INSTANT)
    assert again.id != session.id


async def test_a_crashing_script_ends_its_run_with_an_internal_error(
    agent: ReferenceAgent,
) -> None:
    session = agent.store.create("p")
    broken = type("Script", (), {"events": (None,), "on_answer": None})()
    agent.engine.start(session, broken, "x", 0, RunPacing(0, 0))  # type: ignore[arg-type]
    while session.status is Status.RUNNING:
        await asyncio.sleep(0)
    last = session.log.after(0)[-1]
    assert (last.event, session.status) == ("ERROR", Status.FAILED)
    assert b'"code":"internal"' in last.data


async def test_closing_the_service_cancels_its_runs(agent: ReferenceAgent) -> None:
    session, _ = agent.execute(turn("long 100"), None, Pacing(first_event_ms=10_000))
    await agent.close()
    assert session.log.last_id == 0
