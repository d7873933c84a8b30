from __future__ import annotations

from dataclasses import dataclass

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
from domain.conversations import Conversation, Owner
from tests.fakes.metrics import RecordingMetrics
from tests.fakes.models import RecordedBackground, ScriptedChatModel
from tests.fakes.storage import FakeStore
from tests.fakes.system import FakeClock, SequentialIds

ALICE = Owner("acme", "alice")
BOB = Owner("acme", "bob")


@dataclass
class World:
    """Every port of the chat use cases, faked, and the use cases wired over them."""

    store: FakeStore
    clock: FakeClock
    ids: SequentialIds
    live: InProcessLiveEvents
    background: RecordedBackground
    model: ScriptedChatModel
    policy: FlushPolicy
    metrics: RecordingMetrics

    def producer(self) -> ProduceLlmReply:
        return ProduceLlmReply(
            self.store.uow,
            self.clock,
            self.live,
            self.model,
            self.policy,
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
            self.producer().execute,
        )

    def follow(self) -> FollowConversation:
        return FollowConversation(self.store.uow, self.live)

    async def conversation(self, owner: Owner = ALICE) -> Conversation:
        create = CreateConversation(self.store.uow, self.clock, self.ids)
        return await create.execute(CreateConversationCommand(owner, "chat"))


@pytest.fixture
def world() -> World:
    return World(
        store=FakeStore(),
        clock=FakeClock(),
        ids=SequentialIds(),
        live=InProcessLiveEvents(replay_size=100, subscriber_queue=100),
        background=RecordedBackground(),
        model=ScriptedChatModel(["Hel", "lo", " there"]),
        policy=FlushPolicy(interval_s=10.0, max_chars=1000),
        metrics=RecordingMetrics(),
    )
