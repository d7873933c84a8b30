"""The agent reply's coalesced writes: what they cost the database, and that a session changed
between two of them is still noticed."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
import uvloop

from application.agent_event_processor import AgentReplyPolicy
from application.agent_reply_recorder import AgentReplyRecorder, SessionChange
from application.reply_recorder import FlushPolicy
from application.reply_writes import ReplyWrites
from application.use_cases.send_message import MessageAccepted, SendMessageCommand
from domain.agent_events import AnswerChunk, TurnCompleted
from domain.agent_sessions import AgentSession
from domain.messages import Message
from tests.fakes.delegation import FakeAgentSessionRepository, ScriptedAgentGateway
from tests.fakes.storage import FakeMessageRepository
from tests.unit.application.conftest import ALICE, World


async def agent_search(
    world: World, chunks: int, policy: AgentReplyPolicy, **script: Any
) -> MessageAccepted:
    """Send `/agent search` to a new conversation, the agent answering `chunks` numbered
    chunks ("1 2 3 …") and completing, replies written under `policy`."""
    answer = [AnswerChunk(event_id=n, session_id="a", text=f"{n} ") for n in range(1, chunks + 1)]
    world.gateway = ScriptedAgentGateway([*answer, TurnCompleted(event_id=chunks + 1)], **script)
    world.reply_policy = policy
    conversation = await world.conversation()
    return await world.send_message().execute(
        SendMessageCommand(ALICE, conversation.id, "/agent search")
    )


async def stored(world: World, reply_id: UUID, content: str) -> None:
    """Let time pass, on the world's clock and the loop's alike, until the reply is stored
    with `content`."""
    async with asyncio.timeout(5):
        while (await world.stored_message(reply_id)).content != content:
            world.clock.advance(0.005)
            await asyncio.sleep(0.005)


class WriteRequests:
    """How many writes turns asked `ReplyWrites` for."""

    count = 0


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> WriteRequests:
    seen = WriteRequests()
    request = ReplyWrites.request

    def counted(
        self: ReplyWrites, recorder: AgentReplyRecorder, change: SessionChange | None = None
    ) -> asyncio.Future[None]:
        seen.count += 1
        return request(self, recorder, change)

    monkeypatch.setattr(ReplyWrites, "request", counted)
    return seen


async def test_a_turn_reads_its_session_once_however_often_it_writes(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[UUID] = []
    read = FakeAgentSessionRepository.get

    async def counted(self: FakeAgentSessionRepository, session_id: UUID) -> AgentSession | None:
        reads.append(session_id)
        return await read(self, session_id)

    monkeypatch.setattr(FakeAgentSessionRepository, "get", counted)
    # a write per chunk: the agent pauses between chunks, so each background write finishes
    policy = AgentReplyPolicy(flush=FlushPolicy(10.0, 1), group_window_s=0)
    accepted = await agent_search(world, 50, policy, pause_s=0.002)
    conversation_id = accepted.message.conversation_id
    commits = world.store.tables.commits

    await world.background.run_all()

    assert world.store.tables.commits - commits > 50
    assert len(reads) <= 3  # the turn's start, its first write; not one per write
    stored = await world.stored_message(accepted.reply_id)
    assert stored.content == "".join(f"{n} " for n in range(1, 51))
    session = await world.live_session(conversation_id)
    assert session is not None and session.last_event_id == 51


async def test_text_waiting_while_the_agent_is_quiet_is_written_once_its_interval_passes(
    world: World,
) -> None:
    policy = AgentReplyPolicy(flush=FlushPolicy(0.05, 10_000))
    accepted = await agent_search(world, 5, policy, hold_after=3)
    job = asyncio.ensure_future(world.background.run_all())
    await world.gateway.held.wait()

    await stored(world, accepted.reply_id, "1 2 3 ")
    session = await world.live_session(accepted.message.conversation_id)
    assert session is not None and session.last_event_id == 3

    world.gateway.release.set()
    await job
    assert (await world.stored_message(accepted.reply_id)).content == "1 2 3 4 5 "


async def test_a_quiet_stream_does_not_ask_again_for_a_write_under_way(
    world: World, monkeypatch: pytest.MonkeyPatch, asked: WriteRequests
) -> None:
    """While its write waits on a slow database, the sweeps of a quiet turn do not ask for the
    same write again."""
    gate = asyncio.Event()
    save = FakeMessageRepository.save_progress

    async def slow(self: FakeMessageRepository, *messages: Message) -> None:
        await gate.wait()
        await save(self, *messages)

    monkeypatch.setattr(FakeMessageRepository, "save_progress", slow)
    policy = AgentReplyPolicy(flush=FlushPolicy(0.05, 10_000), group_window_s=0)
    accepted = await agent_search(world, 5, policy, hold_after=3)
    job = asyncio.ensure_future(world.background.run_all())
    await world.gateway.held.wait()

    for _ in range(50):  # ten intervals, the write held all along
        world.clock.advance(0.01)
        await asyncio.sleep(0.01)
    assert 1 <= asked.count <= 12

    gate.set()
    world.gateway.release.set()
    await job
    assert (await world.stored_message(accepted.reply_id)).content == "1 2 3 4 5 "


async def test_a_quiet_turn_with_nothing_new_writes_only_to_renew_its_lease(
    world: World, asked: WriteRequests
) -> None:
    """A tool call or a long thought leaves the stream quiet for seconds: the turn writes when
    a third of its lease has passed, not every flush interval."""
    lease = timedelta(seconds=0.6)  # renewed every 0.2 s
    policy = AgentReplyPolicy(flush=FlushPolicy(0.02, 10_000), group_window_s=0, lease=lease)
    accepted = await agent_search(world, 5, policy, hold_after=3)
    job = asyncio.ensure_future(world.background.run_all())
    await world.gateway.held.wait()
    await stored(world, accepted.reply_id, "1 2 3 ")
    asked.count, commits = 0, world.store.tables.commits

    for _ in range(100):  # a quiet second: fifty flush intervals, five renewals
        world.clock.advance(0.01)
        await asyncio.sleep(0.01)

    assert 3 <= asked.count <= 7
    assert 3 <= world.store.tables.commits - commits <= 7
    world.gateway.release.set()
    await job
    assert (await world.stored_message(accepted.reply_id)).content == "1 2 3 4 5 "


def test_a_turn_streams_and_writes_on_uvloop(world: World) -> None:
    """uvloop, the loop `convo serve` runs on, hands out a plain Handle, not a TimerHandle,
    for a wake-up whose time has already come (a write due at once)."""

    async def scenario() -> str:
        policy = AgentReplyPolicy(flush=FlushPolicy(0.0, 1), group_window_s=0)
        accepted = await agent_search(world, 20, policy)
        await world.background.run_all()
        return (await world.stored_message(accepted.reply_id)).content

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert runner.run(scenario()) == "".join(f"{n} " for n in range(1, 21))
