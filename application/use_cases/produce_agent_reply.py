from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from application.agent_event_processor import AgentEventProcessor
from application.agent_failures import ALREADY_ANSWERED, BUSY, INTERRUPTED
from application.agent_sessions import AgentTurn, change_session
from application.announce import fail_reply
from application.errors import ApplicationError, NoAgentSession
from application.live import EventType, about_reply
from application.ports.clock import Clock
from application.ports.live_events import LiveEvents
from application.ports.unit_of_work import UnitOfWorkFactory
from application.use_cases.answer_agent_question import AnswerAgentQuestion, AnswerCommand
from application.use_cases.end_agent_session import EndAgentSession, EndSessionCommand
from application.use_cases.start_agent_turn import (
    ClaimedTurn,
    StartAgentTurn,
    StartTurnCommand,
)
from domain.agent_sessions import QuestionExpired, QuestionPending, TurnAlreadyRunning
from domain.conversations import Principal
from domain.errors import DomainError, IllegalTransition
from domain.routing import TurnAction

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AgentReplyJob:
    """An agent-bound message to answer: `input` is its text as routed (prefix stripped),
    `answer_to` the pending question it answers, if any, `claimed` its turn when the
    transaction that stored the message also started the turn."""

    principal: Principal
    conversation_id: UUID
    message_id: UUID
    reply_id: UUID
    input: str
    action: TurnAction = TurnAction.START
    answer_to: str | None = None
    claimed: ClaimedTurn | None = None

    def start_command(self) -> StartTurnCommand:
        return StartTurnCommand(
            self.principal, self.conversation_id, self.message_id, self.reply_id, self.input
        )


class _Unanswerable(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class ProduceAgentReply:
    """Run the agent's turn for a stored message into its reply (in the background).

    Rules:
    - a message that answers the pending question resumes the paused run with it;
    - while another turn runs in the conversation (another instance, or an answer race) the
      message waits for it (`enqueue`, polling the session) up to `busy_wait`; `interrupt`
      ends the running session first, so the message starts at once in a new session that
      receives the conversation's history (the old turn's reply ends as interrupted);
    - a message meeting a question that is still pending answers it; one meeting a question
      that expired starts a fresh session;
    - the reply is claimed by the turn (its id and lease stored on the session: as the turn
      starts, possibly with the message, or as an answer resumes it) and the turn consumed by
      the AgentEventProcessor; when no turn can start, the reply fails with a text fit for
      the user.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        live: LiveEvents,
        start: StartAgentTurn,
        answer: AnswerAgentQuestion,
        end: EndAgentSession,
        processor: AgentEventProcessor,
        lease: timedelta,
        busy_wait: timedelta,
        poll_s: float = 0.25,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._live = live
        self._start = start
        self._answer = answer
        self._end = end
        self._processor = processor
        self._lease = lease
        self._busy_wait = busy_wait
        self._poll_s = poll_s

    async def execute(self, job: AgentReplyJob) -> None:
        if job.claimed is not None:
            turn = await self._start.send(job.start_command(), job.claimed)
            assert turn.reply is not None, "a claim made with the message carries its reply"
            await self._processor.run(turn, turn.reply)
            return
        try:
            turn = await self._begin(job)
        except _Unanswerable as refusal:
            await self._refuse(job.reply_id, refusal.text)
            return
        if turn.reply is None:
            await self.continue_turn(turn, job.reply_id)
        else:
            await self._processor.run(turn, turn.reply)

    async def continue_turn(self, turn: AgentTurn, reply_id: UUID) -> None:
        """Give the running turn its reply, then consume it. A turn ended meanwhile (the
        user ended the session, a newer message interrupted it) fails the reply instead."""
        lease_until = self._clock.now() + self._lease
        try:
            session, _ = await change_session(
                self._uow, turn.session.id, lambda s: s.assign_turn(reply_id, lease_until)
            )
        except (IllegalTransition, NoAgentSession):
            await self._refuse(reply_id, INTERRUPTED)
            return
        async with self._uow() as uow:
            reply = await uow.messages.get(reply_id)
        assert reply is not None, "a job's reply is stored before the job runs"
        await self._processor.run(AgentTurn(session, turn.request, turn.events, turn.opened), reply)

    async def _begin(self, job: AgentReplyJob) -> AgentTurn:
        if job.answer_to is not None:
            return await self._answering(job, job.answer_to)
        if job.action is TurnAction.INTERRUPT:
            await self._end.execute(EndSessionCommand(job.principal, job.conversation_id))
        deadline = self._clock.monotonic() + self._busy_wait.total_seconds()
        command = job.start_command()
        while True:
            try:
                return await self._start.execute(command)
            except QuestionPending as pending:
                return await self._answering(job, pending.question_id)
            except TurnAlreadyRunning:
                if self._clock.monotonic() >= deadline:
                    raise _Unanswerable(BUSY) from None
                await asyncio.sleep(self._poll_s)

    async def _answering(self, job: AgentReplyJob, question_id: str) -> AgentTurn:
        command = AnswerCommand(job.principal, job.conversation_id, question_id, job.input)
        try:
            outcome = await self._answer.execute(command)
        except QuestionExpired:
            return await self._begin(
                AgentReplyJob(
                    job.principal, job.conversation_id, job.message_id, job.reply_id, job.input
                )
            )
        except (DomainError, ApplicationError) as refused:
            raise _Unanswerable(str(refused)) from refused
        if outcome.turn is None:
            raise _Unanswerable(ALREADY_ANSWERED)
        return outcome.turn

    async def _refuse(self, reply_id: UUID, text: str) -> None:
        async with self._uow() as uow:
            reply = await uow.messages.get(reply_id)
        if reply is None or not reply.is_streaming:
            return
        await self._live.publish(about_reply(EventType.AGENT_ERROR, reply, message=text))
        await fail_reply(self._uow, self._live, reply, text)
        log.info("agent reply %s refused: %s", reply_id, text)
