"""The mapping of a conversation to a session of the Agent Service, and its life.

A session spans many turns: the agent keeps its memory between them. It is ACTIVE while live,
AWAITING_USER while the agent waits for the answer to a question, and ends COMPLETED (idle for
too long, or ended by the user), FAILED (a non-retryable agent error) or ABANDONED (a question
expired). At most one session of a conversation is live (ACTIVE or AWAITING_USER) at a time.

`turn_started_at` is set while a turn runs: the agent is working for this conversation and a
new message must wait, be refused or interrupt it (the organisation's busy policy decides).
`version` counts the stored changes; the repository refuses a save over a newer version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from domain.agent_events import QuestionAsked
from domain.errors import DomainError, IllegalTransition


class SessionStatus(StrEnum):
    ACTIVE = "ACTIVE"
    AWAITING_USER = "AWAITING_USER"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    ABANDONED = "ABANDONED"

    @property
    def is_live(self) -> bool:
        return self in LIVE_STATUSES


LIVE_STATUSES = frozenset({SessionStatus.ACTIVE, SessionStatus.AWAITING_USER})


class TurnAlreadyRunning(DomainError):
    """A turn is running in the session; the busy policy decides what the new message does."""

    def __init__(self, session_id: UUID) -> None:
        super().__init__("a turn is already running in this conversation")
        self.session_id = session_id


class QuestionPending(DomainError):
    """A new turn cannot start while the agent waits for the answer to its question."""

    def __init__(self, question_id: str) -> None:
        super().__init__(f"the agent is waiting for the answer to question {question_id!r}")
        self.question_id = question_id


class NoPendingQuestion(DomainError):
    """An answer came while the agent is not waiting for one."""

    def __init__(self) -> None:
        super().__init__("the agent is not waiting for an answer")


class QuestionMismatch(DomainError):
    """An answer names a question other than the one the agent is waiting on."""

    def __init__(self, question_id: str) -> None:
        super().__init__(f"question {question_id!r} is not the one the agent is waiting on")
        self.question_id = question_id


class QuestionExpired(DomainError):
    """The question was not answered in time; the session was abandoned."""

    def __init__(self, question_id: str) -> None:
        super().__init__(f"question {question_id!r} expired")
        self.question_id = question_id


class AnswerConflict(DomainError):
    """The question was already answered, differently."""

    def __init__(self, question_id: str) -> None:
        super().__init__(f"question {question_id!r} was already answered differently")
        self.question_id = question_id


@dataclass(slots=True)
class PendingQuestion:
    """A question the agent asked; answered once, or expired."""

    question_id: str
    text: str
    asked_at: datetime
    expires_at: datetime
    choices: tuple[str, ...] = ()
    answered_at: datetime | None = None
    answer: str | None = None

    @classmethod
    def asked(cls, event: QuestionAsked, now: datetime, ttl: timedelta) -> PendingQuestion:
        """The question as stored: it expires at the agent's `expires_at`, or after `ttl` when
        the agent gave none, whichever comes first."""
        expires_at = now + ttl if event.expires_at is None else min(now + ttl, event.expires_at)
        return cls(event.question_id, event.question, now, expires_at, event.choices)

    def is_expired(self, now: datetime) -> bool:
        return self.answered_at is None and now >= self.expires_at


@dataclass(slots=True)
class AgentSession:
    id: UUID
    conversation_id: UUID
    profile_name: str
    status: SessionStatus
    created_at: datetime
    last_interaction_at: datetime
    agent_session_id: str | None = None
    last_event_id: int = 0
    turn_started_at: datetime | None = None
    question: PendingQuestion | None = None
    version: int = 0
    turn_reply_id: UUID | None = None
    turn_lease_until: datetime | None = None

    @classmethod
    def open(
        cls, id: UUID, conversation_id: UUID, profile_name: str, now: datetime
    ) -> AgentSession:
        """A new live session with its first turn running (the agent names it later)."""
        return cls(
            id=id,
            conversation_id=conversation_id,
            profile_name=profile_name,
            status=SessionStatus.ACTIVE,
            created_at=now,
            last_interaction_at=now,
            turn_started_at=now,
        )

    @property
    def is_live(self) -> bool:
        return self.status.is_live

    @property
    def turn_running(self) -> bool:
        return self.turn_started_at is not None

    @property
    def ready_for_turn(self) -> bool:
        """A turn can begin now: no turn running and no question waiting."""
        return self.status is SessionStatus.ACTIVE and not self.turn_running

    def bind(self, agent_session_id: str) -> None:
        """Record the id the Agent Service gave the session; it never changes afterwards."""
        if self.agent_session_id not in (None, agent_session_id):
            raise IllegalTransition("agent session", self.agent_session_id or "", agent_session_id)
        self.agent_session_id = agent_session_id

    def begin_turn(self, now: datetime) -> None:
        if self.status is SessionStatus.AWAITING_USER and self.question is not None:
            raise QuestionPending(self.question.question_id)
        self._require(SessionStatus.ACTIVE, "turn running")
        if self.turn_running:
            raise TurnAlreadyRunning(self.id)
        self.turn_started_at = now
        self._touch(now)

    def assign_turn(self, reply_id: UUID, lease_until: datetime) -> None:
        """The running turn writes `reply_id`; whoever holds the lease consumes its events."""
        if not self.turn_running:
            raise IllegalTransition("agent session", "no turn running", "turn assigned")
        self.turn_reply_id = reply_id
        self.turn_lease_until = lease_until

    def renew_lease(self, until: datetime) -> None:
        if not self.turn_running:
            raise IllegalTransition("agent session", "no turn running", "lease renewed")
        self.turn_lease_until = max(self.turn_lease_until or until, until)

    def lease_expired(self, now: datetime) -> bool:
        """A turn runs but nobody has renewed its lease: its consumer is gone (a crash)."""
        return self.turn_running and (self.turn_lease_until is None or now >= self.turn_lease_until)

    def record_event(self, event_id: int, now: datetime) -> None:
        """Progress of the running turn: events never move `last_event_id` backwards."""
        self._require_live("progress")
        self.last_event_id = max(self.last_event_id, event_id)
        self._touch(now)

    def end_turn(self, now: datetime) -> None:
        """The turn finished (completed, or failed in a way worth retrying); the session stays."""
        self._require(SessionStatus.ACTIVE, "turn ended")
        self._clear_turn()
        self._touch(now)

    def ask(self, question: PendingQuestion, now: datetime) -> None:
        """The agent paused its turn until the user answers."""
        self._require(SessionStatus.ACTIVE, SessionStatus.AWAITING_USER)
        self.status = SessionStatus.AWAITING_USER
        self.question = question
        self._clear_turn()
        self._touch(now)

    def answer(self, question_id: str, text: str, now: datetime) -> bool:
        """Accept the answer and start the resumed turn; False when this exact answer was
        already accepted (nothing to do). Raises NoPendingQuestion, QuestionMismatch,
        AnswerConflict, or QuestionExpired (a waiting session is then ABANDONED: the caller
        stores that)."""
        question = self.question
        if question is None or (question.question_id != question_id and not self.is_live):
            raise NoPendingQuestion()
        if question.question_id != question_id:
            raise QuestionMismatch(question_id)
        if question.answered_at is not None:
            if question.answer == text:
                return False
            raise AnswerConflict(question_id)
        if self.status is SessionStatus.ABANDONED or question.is_expired(now):
            if self.status is SessionStatus.AWAITING_USER:
                self.abandon(now)
            raise QuestionExpired(question_id)
        if self.status is not SessionStatus.AWAITING_USER:
            raise NoPendingQuestion()
        question.answered_at, question.answer = now, text
        self.status = SessionStatus.ACTIVE
        self.turn_started_at = now
        self._touch(now)
        return True

    def abandon(self, now: datetime) -> None:
        """The pending question expired unanswered."""
        self._require(SessionStatus.AWAITING_USER, SessionStatus.ABANDONED)
        self.status = SessionStatus.ABANDONED
        self._touch(now)

    def complete(self, now: datetime) -> None:
        """End the session: the user ended it, or it stayed idle too long."""
        self._require_live(SessionStatus.COMPLETED)
        self.status = SessionStatus.COMPLETED
        self._clear_turn()
        self._touch(now)

    def fail(self, now: datetime) -> None:
        """The agent reported an error that retrying cannot fix."""
        self._require_live(SessionStatus.FAILED)
        self.status = SessionStatus.FAILED
        self._clear_turn()
        self._touch(now)

    def is_idle(self, now: datetime, idle_after: timedelta) -> bool:
        """ACTIVE, no turn running, and no interaction for `idle_after`: due to complete."""
        return (
            self.status is SessionStatus.ACTIVE
            and not self.turn_running
            and now - self.last_interaction_at >= idle_after
        )

    def question_expired(self, now: datetime) -> bool:
        return (
            self.status is SessionStatus.AWAITING_USER
            and self.question is not None
            and self.question.is_expired(now)
        )

    def _clear_turn(self) -> None:
        self.turn_started_at = None
        self.turn_reply_id = None
        self.turn_lease_until = None

    def _touch(self, now: datetime) -> None:
        self.last_interaction_at = max(self.last_interaction_at, now)

    def _require(self, status: SessionStatus, wanted: str) -> None:
        if self.status is not status:
            raise IllegalTransition("agent session", self.status.value, str(wanted))

    def _require_live(self, wanted: str) -> None:
        if not self.is_live:
            raise IllegalTransition("agent session", self.status.value, str(wanted))
