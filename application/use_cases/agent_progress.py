"""What the live event processor reports while a turn runs, each in one short transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from application.agent_sessions import change_session
from application.ports.clock import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.agent_events import AgentEvent, AgentFailed, QuestionAsked, TurnCompleted
from domain.agent_sessions import AgentSession, PendingQuestion


def _note(session: AgentSession, event: AgentEvent, clock: Clock) -> None:
    if event.session_id:
        session.bind(event.session_id)
    session.record_event(event.event_id, clock.now())


class RecordAgentProgress:
    """Remember the newest event of a running turn (`last_event_id`, `last_interaction_at`,
    and the agent's session id from the first event). Events never move it backwards, so
    the processor may report only the last event of each coalesced batch."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def execute(self, session_id: UUID, event: AgentEvent) -> AgentSession:
        session, _ = await change_session(
            self._uow, session_id, lambda s: _note(s, event, self._clock)
        )
        return session


class PauseForQuestion:
    """The agent asked the user something: the session waits (AWAITING_USER) with the
    question stored. It expires at the agent's `expires_at`, or after `question_ttl` when the
    agent gave none, whichever comes first."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, question_ttl: timedelta) -> None:
        self._uow = uow
        self._clock = clock
        self._ttl = question_ttl

    async def execute(self, session_id: UUID, event: QuestionAsked) -> AgentSession:
        def pause(session: AgentSession) -> None:
            now = self._clock.now()
            expires_at = now + self._ttl
            if event.expires_at is not None:
                expires_at = min(expires_at, event.expires_at)
            _note(session, event, self._clock)
            question = PendingQuestion(
                event.question_id, event.question, now, expires_at, tuple(event.choices)
            )
            session.ask(question, now)

        session, _ = await change_session(self._uow, session_id, pause)
        return session


@dataclass(frozen=True, slots=True)
class TurnEnd:
    """How a turn ended: its terminal event, or None when it broke off without one (the
    gateway gave up: the agent may be fine, so the session stays)."""

    final: TurnCompleted | AgentFailed | None = None


class FinishAgentTurn:
    """End the running turn. A non-retryable agent error fails the session; anything else
    leaves it ACTIVE for the next turn. A session that ended meanwhile (the user ended it)
    is left as it is."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def execute(self, session_id: UUID, end: TurnEnd) -> AgentSession:
        def finish(session: AgentSession) -> None:
            if not session.is_live:
                return
            now = self._clock.now()
            if end.final is not None:
                _note(session, end.final, self._clock)
            if isinstance(end.final, AgentFailed) and not end.final.retryable:
                session.fail(now)
            elif session.turn_running:
                session.end_turn(now)

        session, _ = await change_session(self._uow, session_id, finish)
        return session
