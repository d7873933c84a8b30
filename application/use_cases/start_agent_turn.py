from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from application.agent_sessions import ATTEMPTS, AgentTurn, user_context
from application.errors import SessionContention
from application.history_builder import HistoryBuilder, StoredHistory
from application.ports.agent_gateway import AgentGateway, AgentTurnRequest
from application.ports.agent_sessions import LiveSessionExists, StaleAgentSession
from application.ports.clock import Clock
from application.ports.ids import IdGenerator
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from application.queries import owned_conversation_state
from domain.agent_sessions import AgentSession
from domain.conversations import Conversation, Principal
from domain.messages import Message

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StartTurnCommand:
    """`message_id` is the stored user message, `reply_id` the reply the turn writes; `input`
    the message's text as routed (prefix stripped)."""

    principal: Principal
    conversation_id: UUID
    message_id: UUID
    reply_id: UUID
    input: str


@dataclass(slots=True)
class ClaimedTurn:
    """A turn started and claimed for its reply, as its transaction left it: what the agent's
    request is built from once that transaction is committed. Its stored history is handed
    over once (`take_history`): up to CONVO_HISTORY_SCAN_MESSAGES messages that must not stay
    in memory with the job for the whole turn."""

    conversation: Conversation
    session: AgentSession
    opened: bool
    reply: Message | None
    history: StoredHistory

    def take_history(self) -> StoredHistory:
        history, self.history = self.history, StoredHistory((), {})
        return history


class StartAgentTurn:
    """Start the agent's turn for a user message: the session, the history, the request.

    Rules:
    - the conversation must belong to the caller;
    - get-or-create: the conversation's live session is joined, or a new one opened; when
      concurrent first messages race, the partial unique index lets one session win and the
      others join it (ADR 0007), so a conversation never has two live sessions;
    - a turn starts only if none is running (TurnAlreadyRunning otherwise: the busy policy
      should have queued the message) and no question is waiting (QuestionPending);
    - the agent gets the windowed history before the message, the message as input, and the
      owner's user context; the message id is the turn's idempotency key, so a retried call
      never runs the turn twice on the agent's side;
    - the turn is claimed for its reply (the reply's id and a lease stored on the session) in
      the same transaction that starts it, with the history read: starting a turn is one
      transaction, its own or the caller's (`claim`, then `send` once it is committed);
    - nothing is held open while the agent works: the returned events are read by the caller.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        gateway: AgentGateway,
        history: HistoryBuilder,
        profile_name: str,
        lease: timedelta,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._gateway = gateway
        self._history = history
        self._profile_name = profile_name
        self._lease = lease

    async def execute(self, command: StartTurnCommand) -> AgentTurn:
        return await self.send(command, await self._begin(command))

    async def claim(
        self,
        uow: UnitOfWork,
        conversation: Conversation,
        session: AgentSession | None,
        command: StartTurnCommand,
        reply: Message | None,
        earlier_messages: bool = True,
    ) -> ClaimedTurn:
        """Start and claim the turn in the caller's transaction, on the conversation and its
        live session (None: open one) as read there. Without `earlier_messages` (the
        conversation held none before this exchange, as read in the same transaction) the
        history is known to be empty and is not read: on SQLite a statement less while the
        write lock is held. Domain errors say why no turn can start; a raced session surfaces
        as LiveSessionExists or StaleAgentSession."""
        now = self._clock.now()
        opened = session is None
        if session is None:
            session = AgentSession.open(
                self._ids.new_id(), conversation.id, self._profile_name, now
            )
        else:
            session.begin_turn(now)
        session.assign_turn(command.reply_id, now + self._lease)
        if opened:
            await uow.agent_sessions.add(session)
        else:
            await uow.agent_sessions.save(session)
        history = (
            await self._history.read(uow, conversation.id, command.message_id)
            if earlier_messages
            else StoredHistory((), {})
        )
        return ClaimedTurn(conversation, session, opened, reply, history)

    async def send(self, command: StartTurnCommand, claimed: ClaimedTurn) -> AgentTurn:
        """The agent's request for a committed claim, and its events (read by the caller)."""
        stored = claimed.take_history()
        history = await self._history.build(stored, command.message_id, command.input)
        if history.counted:
            await self._remember(history.counted)
        session = claimed.session
        request = AgentTurnRequest(
            profile_name=session.profile_name,
            input=history.input,
            chat_history=history.chat_history,
            user_context=user_context(claimed.conversation, command.principal),
            session_id=session.agent_session_id,
            idempotency_key=str(command.message_id),
            correlation_id=str(command.message_id),
        )
        events = self._gateway.execute_agent(request)
        return AgentTurn(session, request, events, claimed.opened, claimed.reply)

    async def _remember(self, counted: Mapping[UUID, int]) -> None:
        """Keep the token counts left over from the claiming transaction's budget (a long
        conversation's first agent turn), in a transaction of their own. They only save
        counting again: a failure is logged, not raised."""
        try:
            async with self._uow() as uow:
                await self._history.remember(uow, counted)
                await uow.commit()
        except Exception as error:
            log.warning("could not keep %d token counts: %r", len(counted), error)

    async def _begin(self, command: StartTurnCommand) -> ClaimedTurn:
        for _ in range(ATTEMPTS):
            try:
                return await self._get_or_create(command)
            except (LiveSessionExists, StaleAgentSession):
                continue
        raise SessionContention(str(command.conversation_id))

    async def _get_or_create(self, command: StartTurnCommand) -> ClaimedTurn:
        async with self._uow() as uow:
            state = await owned_conversation_state(
                uow, command.principal.owner, command.conversation_id
            )
            reply = await uow.messages.get(command.reply_id)
            claimed = await self.claim(uow, state.conversation, state.live_session, command, reply)
            await uow.commit()
        return claimed
