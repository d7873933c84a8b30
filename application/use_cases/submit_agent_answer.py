from __future__ import annotations

from collections.abc import Awaitable, Callable
from uuid import UUID

from application.agent_sessions import AgentTurn
from application.announce import announce_new
from application.event_seqs import EventSeqs
from application.exchange import add_exchange
from application.ports.background import BackgroundWork
from application.ports.clock import Clock
from application.ports.ids import IdGenerator
from application.ports.live_events import LiveEvents
from application.ports.repositories import DuplicateIdempotencyKey
from application.ports.unit_of_work import UnitOfWorkFactory
from application.queries import owned_conversation, owned_conversation_with_floor
from application.use_cases.answer_agent_question import AnswerAgentQuestion, AnswerCommand
from application.use_cases.send_message import MessageAccepted
from domain.agent_sessions import AnswerConflict
from domain.messages import Message
from domain.routing import Route

TurnContinuer = Callable[[AgentTurn, UUID], Awaitable[None]]


def answer_key(question_id: str) -> str:
    """The idempotency key of the message that carries the answer to a question."""
    return f"agent-answer:{question_id}"


class SubmitAgentAnswer:
    """`POST …/agent-answer`: record the user's answer and resume the paused run.

    Rules:
    - the conversation must belong to the caller; the answer is validated and accepted by
      AnswerAgentQuestion (no question waiting or another one: conflict; expired: gone);
    - the answer becomes a user message of the conversation and the resumed run streams into
      a new reply, announced like any other;
    - the same answer twice is accepted once: the second call returns the first call's
      message and reply; a different answer to an answered question is a conflict.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        live: LiveEvents,
        event_seqs: EventSeqs,
        background: BackgroundWork,
        answer: AnswerAgentQuestion,
        continue_turn: TurnContinuer,
    ) -> None:
        self._uow = uow
        self._event_seqs = event_seqs
        self._clock = clock
        self._ids = ids
        self._live = live
        self._background = background
        self._answer = answer
        self._continue_turn = continue_turn

    async def execute(self, command: AnswerCommand) -> MessageAccepted:
        earlier = await self._earlier(command)
        if earlier is not None:
            return earlier
        outcome = await self._answer.execute(command)
        if outcome.turn is None:
            again = await self._earlier(command)
            if again is None:
                raise AnswerConflict(command.question_id)
            return again
        try:
            message, reply, floor = await self._store(command)
        except DuplicateIdempotencyKey:
            again = await self._earlier(command)
            assert again is not None
            return again
        seqs = await announce_new(self._live, floor, message, reply)
        turn = outcome.turn
        self._background.submit(
            str(command.conversation_id), lambda: self._continue_turn(turn, reply.id)
        )
        await self._event_seqs.store(seqs)
        return MessageAccepted(message, reply.id, Route.AGENT)

    async def _earlier(self, command: AnswerCommand) -> MessageAccepted | None:
        async with self._uow() as uow:
            await owned_conversation(uow, command.principal.owner, command.conversation_id)
            first = await uow.messages.by_idempotency_key(
                command.conversation_id, answer_key(command.question_id)
            )
            if first is None:
                return None
            if first.content != command.answer.strip():
                raise AnswerConflict(command.question_id)
            reply = await uow.messages.reply_to(first.id)
        assert reply is not None
        return MessageAccepted(first, reply.id, Route.AGENT, replayed=True)

    async def _store(self, command: AnswerCommand) -> tuple[Message, Message, int]:
        now = self._clock.now()
        async with self._uow() as uow:
            conversation, floor = await owned_conversation_with_floor(
                uow, command.principal.owner, command.conversation_id
            )
            message, reply = await add_exchange(
                uow,
                self._ids,
                conversation,
                command.answer.strip(),
                now,
                answer_key(command.question_id),
                by_agent=True,
            )
            await uow.commit()
        return message, reply, floor
