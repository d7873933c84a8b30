from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

import pytest

from adapters.memory.live_events import InProcessLiveEvents
from application.live import LiveEvent
from application.reply_recorder import FlushPolicy
from application.use_cases.create_conversation import (
    CreateConversation,
    CreateConversationCommand,
)
from application.use_cases.follow_conversation import FollowConversation
from application.use_cases.produce_llm_reply import ProduceLlmReply
from application.use_cases.recover_agent_turns import ReapStaleTurns, RecoverAgentTurns
from application.use_cases.send_message import SendMessage
from application.use_cases.submit_agent_answer import SubmitAgentAnswer
from application.use_cases.sweep_agent_sessions import SweepAgentSessions
from domain.agent_sessions import AgentSession
from domain.conversations import Conversation, Owner, Principal
from domain.messages import Message
from tests.fakes.models import RecordedBackground, ScriptedChatModel
from tests.unit.application.delegation import Delegation

ALICE = Principal(Owner("acme", "alice"), frozenset({"docs:read"}))
BOB = Principal(Owner("acme", "bob"))


@dataclass
class World(Delegation):
    """Every port of the chat use cases faked, the use cases wired over them, and the
    delegation use cases (routing, agent turns) on the same fakes."""

    background: RecordedBackground = field(default_factory=RecordedBackground)
    model: ScriptedChatModel = field(
        default_factory=lambda: ScriptedChatModel(["Hel", "lo", " there"])
    )
    flush_policy: FlushPolicy = field(default_factory=lambda: FlushPolicy(10.0, 1000))

    def llm_producer(self) -> ProduceLlmReply:
        return ProduceLlmReply(
            self.store.uow,
            self.clock,
            self.live,
            self.event_seqs,
            self.model,
            self.flush_policy,
            history_limit=20,
            metrics=self.metrics,
        )

    def send_message(self) -> SendMessage:
        return SendMessage(
            self.store.uow,
            self.clock,
            self.ids,
            self.live,
            self.event_seqs,
            self.background,
            self.router(),
            self.start(),
            self.llm_producer().execute,
            self.producer().execute,
        )

    def follow(self) -> FollowConversation:
        return FollowConversation(self.store.uow, self.live)

    def submit_answer(self) -> SubmitAgentAnswer:
        return SubmitAgentAnswer(
            self.store.uow,
            self.clock,
            self.ids,
            self.live,
            self.event_seqs,
            self.background,
            self.answer(),
            self.producer().continue_turn,
        )

    def recover(self) -> RecoverAgentTurns:
        return RecoverAgentTurns(
            self.store.uow,
            self.clock,
            self.live,
            self.gateway,
            self.background,
            self.processor().resume,
            lease=timedelta(seconds=30),
        )

    def reaper(self) -> ReapStaleTurns:
        return ReapStaleTurns(self.store.uow, self.clock, self.live, timedelta(seconds=330))

    def sweep(self) -> SweepAgentSessions:
        return SweepAgentSessions(self.expire(), self.live, self.store.uow)

    async def events(self, conversation_id: UUID, since: int = 0) -> list[LiveEvent]:
        return list(await self.live.replay(conversation_id, since) or [])

    async def stored_message(self, message_id: UUID) -> Message:
        async with self.store.uow() as uow:
            message = await uow.messages.get(message_id)
        assert message is not None
        return message

    async def live_session(self, conversation_id: UUID) -> AgentSession | None:
        async with self.store.uow() as uow:
            return await uow.agent_sessions.latest_for(conversation_id)

    async def conversation(self, principal: Principal | Owner = ALICE) -> Conversation:
        owner = principal.owner if isinstance(principal, Principal) else principal
        create = CreateConversation(self.store.uow, self.clock, self.ids)
        return await create.execute(CreateConversationCommand(owner, "chat"))


@pytest.fixture
def world() -> World:
    return World(live=InProcessLiveEvents(replay_size=100, subscriber_queue=100))
