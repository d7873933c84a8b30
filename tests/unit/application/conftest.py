from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from adapters.memory.live_events import InProcessLiveEvents
from application.reply_recorder import FlushPolicy
from application.use_cases.create_conversation import (
    CreateConversation,
    CreateConversationCommand,
)
from application.use_cases.follow_conversation import FollowConversation
from application.use_cases.produce_llm_reply import ProduceLlmReply
from application.use_cases.send_message import SendMessage
from domain.conversations import Conversation, Owner, Principal
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
            self.background,
            self.router(),
            self.llm_producer().execute,
            self.producer().execute,
        )

    def follow(self) -> FollowConversation:
        return FollowConversation(self.store.uow, self.live)

    async def conversation(self, principal: Principal | Owner = ALICE) -> Conversation:
        owner = principal.owner if isinstance(principal, Principal) else principal
        create = CreateConversation(self.store.uow, self.clock, self.ids)
        return await create.execute(CreateConversationCommand(owner, "chat"))


@pytest.fixture
def world() -> World:
    return World(live=InProcessLiveEvents(replay_size=100, subscriber_queue=100))
