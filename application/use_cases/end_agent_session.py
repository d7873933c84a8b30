from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from application.agent_sessions import change_session
from application.ports.clock import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from application.queries import owned_conversation
from domain.agent_sessions import AgentSession
from domain.conversations import Principal
from domain.errors import IllegalTransition


@dataclass(frozen=True, slots=True)
class EndSessionCommand:
    principal: Principal
    conversation_id: UUID


class EndAgentSession:
    """The user ends the conversation's agent session: it becomes COMPLETED and the next
    agent-bound message opens a new one. Ending when nothing is live does nothing (None)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def execute(self, command: EndSessionCommand) -> AgentSession | None:
        async with self._uow() as uow:
            await owned_conversation(uow, command.principal.owner, command.conversation_id)
            live = await uow.agent_sessions.live_for(command.conversation_id)
        if live is None:
            return None
        try:
            session, _ = await change_session(
                self._uow, live.id, lambda s: s.complete(self._clock.now())
            )
        except IllegalTransition:
            return None
        return session


@dataclass(frozen=True, slots=True)
class ExpiredSessions:
    """What a sweep ended: idle sessions completed, and sessions abandoned because their
    question expired (the live layer tells their clients)."""

    completed: int
    abandoned: tuple[AgentSession, ...]


class ExpireAgentSessions:
    """The cleanup sweep. Rules: an ACTIVE session with no turn running and no interaction
    for `idle_after` is COMPLETED (one bulk statement, versions bumped); a session whose
    question expired unanswered is ABANDONED, at most `batch` per sweep."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, idle_after: timedelta, batch: int = 500
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._idle_after = idle_after
        self._batch = batch

    async def execute(self) -> ExpiredSessions:
        now = self._clock.now()
        async with self._uow() as uow:
            completed = await uow.agent_sessions.complete_idle(now - self._idle_after, now)
            await uow.commit()
        async with self._uow() as uow:
            expired = await uow.agent_sessions.with_expired_questions(now, self._batch)
        abandoned = []
        for found in expired:
            try:
                session, _ = await change_session(self._uow, found.id, self._abandon)
            except IllegalTransition:
                continue
            abandoned.append(session)
        return ExpiredSessions(completed, tuple(abandoned))

    def _abandon(self, session: AgentSession) -> None:
        now = self._clock.now()
        if not session.question_expired(now):
            raise IllegalTransition("agent session", session.status.value, "ABANDONED")
        session.abandon(now)
