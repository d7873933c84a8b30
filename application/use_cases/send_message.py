from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from application.announce import announce_new
from application.errors import AgentBusy, IdempotencyKeyReused
from application.event_seqs import EventSeqs
from application.exchange import add_exchange
from application.ports.agent_sessions import LiveSessionExists, StaleAgentSession
from application.ports.background import BackgroundWork, Slot, Work
from application.ports.clock import Clock
from application.ports.ids import IdGenerator
from application.ports.live_events import LiveEvents
from application.ports.repositories import DuplicateIdempotencyKey
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from application.queries import owned_conversation_state
from application.use_cases.produce_agent_reply import AgentReplyJob
from application.use_cases.route_message import RouteCommand, RouteMessage
from application.use_cases.start_agent_turn import ClaimedTurn, StartAgentTurn, StartTurnCommand
from domain.agent_sessions import AgentSession, SessionStatus
from domain.conversations import Principal
from domain.errors import InvalidField
from domain.messages import Message, clean_content
from domain.routing import Overrides, Route, RoutingDecision, TurnAction


@dataclass(frozen=True, slots=True)
class SendMessageCommand:
    principal: Principal
    conversation_id: UUID
    content: str
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class ReplyJob:
    """What the direct model's reply producer needs to answer one user message."""

    principal: Principal
    conversation_id: UUID
    message_id: UUID
    reply_id: UUID


@dataclass(frozen=True, slots=True)
class MessageAccepted:
    message: Message
    reply_id: UUID
    route: Route
    replayed: bool = False


ReplyProducer = Callable[[ReplyJob], Awaitable[None]]
AgentReplyProducer = Callable[[AgentReplyJob], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Stored:
    message: Message
    reply: Message
    floor: int
    answer_to: str | None
    decision: RoutingDecision
    claimed: ClaimedTurn | None


class SendMessage:
    """Store a user's message with its pending reply, announce both, and start the reply on
    the route the router chose.

    Rules:
    - the conversation must belong to the caller;
    - the content is cleaned by the domain (not blank, at most 32,000 characters); an agent
      command with nothing after it (`/agent` alone) is refused naming `content`;
    - a repeated Idempotency-Key returns the first result (route included) and stores nothing
      new, even when the two requests race; the same key with different content is refused;
    - the router decides agent or direct model; a message meeting a running turn under the
      `reject` policy is refused (AgentBusy) before anything is stored;
    - an agent-bound message while the agent waits for an answer is that answer;
    - replies of one conversation are produced one after another, in the order sent; a
      stored reply is produced even when announcing it failed (the request fails, the reply
      and any turn it claimed do not dangle);
    - an agent-bound message that nothing runs or waits before (in this process, and a live
      session ready for a turn, or none) starts its turn in the transaction that stores it,
      so the job only sends it; if another instance starts one meanwhile, the message is
      stored without, and its job waits for that turn like any queued message.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        live: LiveEvents,
        event_seqs: EventSeqs,
        background: BackgroundWork,
        route: RouteMessage,
        start: StartAgentTurn,
        produce_reply: ReplyProducer,
        produce_agent_reply: AgentReplyProducer,
        agent_available: Callable[[], bool] = lambda: True,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._live = live
        self._event_seqs = event_seqs
        self._background = background
        self._route = route
        self._start = start
        self._produce_reply = produce_reply
        self._produce_agent_reply = produce_agent_reply
        self._agent_available = agent_available

    async def execute(self, command: SendMessageCommand) -> MessageAccepted:
        content = clean_content(command.content)
        routing = RouteCommand(
            command.principal, command.conversation_id, content, self._agent_available()
        )
        overrides = await self._route.overrides_for(routing)
        slot = self._background.reserve(str(command.conversation_id))
        try:
            return await self._accept(command, routing, overrides, slot)
        finally:
            slot.release()

    async def _accept(
        self, command: SendMessageCommand, routing: RouteCommand, overrides: Overrides, slot: Slot
    ) -> MessageAccepted:
        try:
            stored = await self._store_claiming(command, routing, overrides, slot.first)
        except DuplicateIdempotencyKey:
            async with self._uow() as uow:
                first = await self._replay(uow, command, routing.content)
            assert first is not None, "a duplicate key implies a stored message"
            return first
        if isinstance(stored, MessageAccepted):
            return stored
        try:
            seqs = await announce_new(self._live, stored.floor, stored.message, stored.reply)
        finally:
            slot.fill(self._job(command, stored))  # a stored reply is produced (or failed)
        await self._event_seqs.store(seqs)
        return MessageAccepted(stored.message, stored.reply.id, stored.decision.route)

    async def _store_claiming(
        self, command: SendMessageCommand, routing: RouteCommand, overrides: Overrides, claim: bool
    ) -> MessageAccepted | _Stored:
        if claim:
            try:
                return await self._store(command, routing, overrides, claim=True)
            except (LiveSessionExists, StaleAgentSession):
                pass  # another instance started a turn meanwhile
        return await self._store(command, routing, overrides, claim=False)

    async def _store(
        self, command: SendMessageCommand, routing: RouteCommand, overrides: Overrides, claim: bool
    ) -> MessageAccepted | _Stored:
        """In one transaction: the first result of a repeated request, or the routing decision
        and the new message and reply with the conversation's seq floor, and with `claim` the
        agent's turn started for the reply when it can start. A refused message leaves nothing
        stored."""
        now = self._clock.now()
        async with self._uow() as uow:
            state = await owned_conversation_state(
                uow, command.principal.owner, command.conversation_id
            )
            replayed = await self._replay(uow, command, routing.content)
            if replayed is not None:
                return replayed
            conversation, session = state.conversation, state.live_session
            decision = self._decide(routing, session, overrides)
            by_agent = decision.route is Route.AGENT
            key = command.idempotency_key
            message, reply = await add_exchange(
                uow, self._ids, conversation, routing.content, now, key, by_agent
            )
            claimed = None
            if claim and by_agent and (session is None or session.ready_for_turn):
                turn = StartTurnCommand(
                    command.principal, conversation.id, message.id, reply.id, decision.content
                )
                claimed = await self._start.claim(
                    uow, conversation, session, turn, reply, state.has_messages
                )
            await uow.commit()
        answer_to = _waiting_question(session, now) if by_agent else None
        return _Stored(message, reply, state.event_floor, answer_to, decision, claimed)

    def _decide(
        self, routing: RouteCommand, session: AgentSession | None, overrides: Overrides
    ) -> RoutingDecision:
        decision = self._route.decide(routing, session, overrides)
        if decision.rejected:
            raise AgentBusy(str(routing.conversation_id))
        if decision.route is Route.AGENT and not decision.content.strip():
            raise InvalidField("content", "write the message after the agent command")
        return decision

    def _job(self, command: SendMessageCommand, stored: _Stored) -> Work:
        message, reply, decision = stored.message, stored.reply, stored.decision
        if decision.route is Route.AGENT:
            job = AgentReplyJob(
                command.principal,
                command.conversation_id,
                message.id,
                reply.id,
                decision.content,
                decision.action or TurnAction.START,
                stored.answer_to,
                stored.claimed,
            )
            return lambda: self._produce_agent_reply(job)
        llm_job = ReplyJob(command.principal, command.conversation_id, message.id, reply.id)
        return lambda: self._produce_reply(llm_job)

    @staticmethod
    async def _replay(
        uow: UnitOfWork, command: SendMessageCommand, content: str
    ) -> MessageAccepted | None:
        if command.idempotency_key is None:
            return None
        first = await uow.messages.by_idempotency_key(
            command.conversation_id, command.idempotency_key
        )
        if first is None:
            return None
        if first.content != content:
            raise IdempotencyKeyReused(command.idempotency_key)
        reply = await uow.messages.reply_to(first.id)
        assert reply is not None, "a user message is stored with its reply"
        route = Route.AGENT if reply.by_agent else Route.LLM
        return MessageAccepted(first, reply.id, route, replayed=True)


def _waiting_question(session: AgentSession | None, now: datetime) -> str | None:
    """The question a message answers: the live session's, while it waits and has not
    expired."""
    if session is None or session.status is not SessionStatus.AWAITING_USER:
        return None
    question = session.question
    if question is None or question.answered_at is not None or question.is_expired(now):
        return None
    return question.question_id
