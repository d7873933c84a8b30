from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from application.agent_sessions import ATTEMPTS, AgentTurn, user_context
from application.errors import SessionContention
from application.ports.agent_gateway import AgentAnswer, AgentGateway, AgentTurnRequest
from application.ports.agent_sessions import StaleAgentSession
from application.ports.clock import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from application.queries import owned_conversation
from domain.agent_sessions import AgentSession, NoPendingQuestion, QuestionExpired
from domain.conversations import Conversation, Principal
from domain.errors import InvalidField

MAX_ANSWER_CHARS = 8_000


@dataclass(frozen=True, slots=True)
class AnswerCommand:
    principal: Principal
    conversation_id: UUID
    question_id: str
    answer: str


@dataclass(frozen=True, slots=True)
class AnswerOutcome:
    """`turn` is the resumed run, or None when this answer had already been accepted."""

    turn: AgentTurn | None

    @property
    def duplicate(self) -> bool:
        return self.turn is None


class AnswerAgentQuestion:
    """Give the agent the user's answer and resume its run.

    Rules:
    - the conversation must belong to the caller; the answer is not blank, at most 8,000
      characters;
    - no question waiting, or another question than the one named: NoPendingQuestion or
      QuestionMismatch (conflict); an answer after the question expired abandons the session
      and raises QuestionExpired (gone);
    - the same answer twice is accepted once: the second call resumes nothing; a different
      answer to an answered question is AnswerConflict;
    - the run resumes in the same agent session, with the answer and no history (the agent
      kept its memory); the question id keys the call so it never runs twice.
    """

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, gateway: AgentGateway) -> None:
        self._uow = uow
        self._clock = clock
        self._gateway = gateway

    async def execute(self, command: AnswerCommand) -> AnswerOutcome:
        text = command.answer.strip()
        if not text:
            raise InvalidField("answer", "must not be empty")
        if len(text) > MAX_ANSWER_CHARS:
            raise InvalidField("answer", f"must be at most {MAX_ANSWER_CHARS} characters")
        conversation, session, accepted = await self._accept(command, text)
        if not accepted:
            return AnswerOutcome(None)
        request = AgentTurnRequest(
            profile_name=session.profile_name,
            input=text,
            chat_history=(),
            user_context=user_context(conversation, command.principal),
            session_id=session.agent_session_id,
            answer=AgentAnswer(command.question_id, text),
            idempotency_key=f"answer:{session.id}:{command.question_id}",
        )
        return AnswerOutcome(AgentTurn(session, request, self._gateway.execute_agent(request)))

    async def _accept(
        self, command: AnswerCommand, text: str
    ) -> tuple[Conversation, AgentSession, bool]:
        for _ in range(ATTEMPTS):
            try:
                return await self._try_accept(command, text)
            except StaleAgentSession:
                continue
        raise SessionContention(str(command.conversation_id))

    async def _try_accept(
        self, command: AnswerCommand, text: str
    ) -> tuple[Conversation, AgentSession, bool]:
        async with self._uow() as uow:
            conversation = await owned_conversation(
                uow, command.principal.owner, command.conversation_id
            )
            session = await uow.agent_sessions.latest_for(conversation.id)
            if session is None:
                raise NoPendingQuestion()
            try:
                accepted = session.answer(command.question_id, text, self._clock.now())
            except QuestionExpired:
                await uow.agent_sessions.save(session)
                await uow.commit()
                raise
            if accepted:
                await uow.agent_sessions.save(session)
                await uow.commit()
        return conversation, session, accepted
