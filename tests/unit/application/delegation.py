"""The delegation use cases wired over fakes of every port."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from uuid import UUID

from adapters.memory.live_events import InProcessLiveEvents
from application.agent_event_processor import AgentEventProcessor, AgentReplyPolicy
from application.agent_sessions import AgentTurn
from application.event_seqs import EventSeqs, SeqsInTransaction
from application.history_builder import HistoryBuilder
from application.reply_writes import ProgressInTransaction
from application.routing_cache import CachedOverrides, stored_overrides
from application.use_cases.answer_agent_question import AnswerAgentQuestion
from application.use_cases.create_conversation import CreateConversation, CreateConversationCommand
from application.use_cases.end_agent_session import EndAgentSession, ExpireAgentSessions
from application.use_cases.produce_agent_reply import ProduceAgentReply
from application.use_cases.route_message import RouteMessage
from application.use_cases.set_routing_override import SetRoutingOverride
from application.use_cases.start_agent_turn import StartAgentTurn, StartTurnCommand
from domain.agent_events import AgentEvent, AnswerChunk, QuestionAsked, Thought, TurnCompleted
from domain.conversations import Conversation, Owner, Principal
from domain.history import WindowPolicy
from domain.messages import Message, MessageStatus, Role
from domain.routing import IntentKeywords, RoutingRules
from tests.fakes.delegation import FirstWordsSummarizer, ScriptedAgentGateway, WordCounter
from tests.fakes.metrics import RecordingMetrics
from tests.fakes.storage import FakeStore
from tests.fakes.system import FakeClock, SequentialIds

ALICE = Principal(Owner("acme", "alice"), frozenset({"docs:read"}))
BOB = Principal(Owner("acme", "bob"))


def answer_script(session_id: str = "agent-1") -> list[AgentEvent]:
    return [
        Thought(event_id=1, session_id=session_id, text="thinking"),
        AnswerChunk(event_id=2, text="Hello"),
        TurnCompleted(event_id=3, answer="Hello"),
    ]


def question_script(session_id: str = "agent-1") -> list[AgentEvent]:
    return [
        Thought(event_id=1, session_id=session_id, text="hmm"),
        QuestionAsked(event_id=2, question_id="q1", question="Which?", choices=("a", "b")),
    ]


@dataclass
class Delegation:
    store: FakeStore = field(default_factory=FakeStore)
    clock: FakeClock = field(default_factory=FakeClock)
    ids: SequentialIds = field(default_factory=SequentialIds)
    gateway: ScriptedAgentGateway = field(
        default_factory=lambda: ScriptedAgentGateway(answer_script())
    )
    counter: WordCounter = field(default_factory=WordCounter)
    summarizer: FirstWordsSummarizer = field(default_factory=FirstWordsSummarizer)
    metrics: RecordingMetrics = field(default_factory=RecordingMetrics)
    policy: WindowPolicy = field(default_factory=WindowPolicy)
    count_chars: int = 50_000
    live: InProcessLiveEvents = field(default_factory=InProcessLiveEvents)
    reply_policy: AgentReplyPolicy = field(default_factory=AgentReplyPolicy)

    @cached_property
    def event_seqs(self) -> EventSeqs:
        """One for the whole world, as the process has one."""
        return EventSeqs(SeqsInTransaction(self.store.uow))

    def history(self) -> HistoryBuilder:
        return HistoryBuilder(self.counter, self.summarizer, self.policy, 500, self.count_chars)

    def start(self) -> StartAgentTurn:
        return StartAgentTurn(
            self.store.uow,
            self.clock,
            self.ids,
            self.gateway,
            self.history(),
            "default",
            lease=timedelta(seconds=30),
        )

    def processor(self) -> AgentEventProcessor:
        return AgentEventProcessor(
            self.store.uow,
            ProgressInTransaction(self.store.uow),
            self.clock,
            self.ids,
            self.live,
            self.event_seqs,
            self.metrics,
            self.reply_policy,
            self.cache(),
        )

    def producer(self) -> ProduceAgentReply:
        return ProduceAgentReply(
            self.store.uow,
            self.clock,
            self.live,
            self.start(),
            self.answer(),
            self.end(),
            self.processor(),
            lease=timedelta(seconds=30),
            busy_wait=timedelta(seconds=2),
            poll_s=0.01,
        )

    async def run(self, turn: AgentTurn) -> Message:
        """Consume a turn the way the service does, into a new reply; the reply as stored."""
        reply = Message.pending_reply(
            self.ids.new_id(),
            turn.session.conversation_id,
            self.ids.new_id(),
            self.clock.now(),
            True,
        )
        async with self.store.uow() as uow:
            await uow.messages.add(reply)
            await uow.commit()
        await self.producer().continue_turn(turn, reply.id)
        async with self.store.uow() as uow:
            stored = await uow.messages.get(reply.id)
        assert stored is not None
        return stored

    def answer(self) -> AnswerAgentQuestion:
        return AnswerAgentQuestion(self.store.uow, self.clock, self.gateway)

    def end(self) -> EndAgentSession:
        return EndAgentSession(self.store.uow, self.clock)

    def expire(self) -> ExpireAgentSessions:
        return ExpireAgentSessions(self.store.uow, self.clock, timedelta(minutes=30))

    def cache(self, ttl_s: float = 5.0) -> CachedOverrides:
        return CachedOverrides(stored_overrides(self.store.uow), self.clock, ttl_s)

    def router(self, cache: CachedOverrides | None = None, enabled: bool = True) -> RouteMessage:
        rules = RoutingRules(enabled, IntentKeywords.of(["search", "run code"]))
        return RouteMessage(self.store.uow, cache or self.cache(), rules, self.metrics)

    def set_override(self, cache: CachedOverrides) -> SetRoutingOverride:
        return SetRoutingOverride(self.store.uow, self.clock, cache)

    async def conversation(self, principal: Principal = ALICE) -> Conversation:
        create = CreateConversation(self.store.uow, self.clock, self.ids)
        return await create.execute(CreateConversationCommand(principal.owner, "chat"))

    async def said(
        self, conversation: Conversation, *texts: str, role: Role = Role.USER
    ) -> Message:
        message = None
        async with self.store.uow() as uow:
            for text in texts:
                self.clock.advance(1)
                message = Message(
                    self.ids.new_id(),
                    conversation.id,
                    role,
                    text,
                    MessageStatus.COMPLETE,
                    self.clock.now(),
                )
                await uow.messages.add(message)
            await uow.commit()
        assert message is not None
        return message

    async def first_turn(self, conversation: Conversation, text: str = "/agent search it"):  # type: ignore[no-untyped-def]
        message = await self.said(conversation, text)
        command = StartTurnCommand(
            ALICE, conversation.id, message.id, self.ids.new_id(), text.removeprefix("/agent ")
        )
        return await self.start().execute(command)


async def drain(turn) -> list[AgentEvent]:  # type: ignore[no-untyped-def]
    return [event async for event in turn.events]


def session_key(n: int) -> UUID:
    return UUID(int=n)
