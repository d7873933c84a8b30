"""Sessions held in memory: status, memory, pending question, event log, idempotency keys.

Everything here is synchronous: in one event loop, a check and the change it guards can never
be interleaved with another request's, which is what makes `409 run_in_progress` and
idempotent attachment exact under concurrency.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from entrypoints.reference_agent.config import Clock, ReferenceAgentConfig
from entrypoints.reference_agent.log import EventLog
from entrypoints.reference_agent.scenarios import Script


class Status(StrEnum):
    RUNNING = "RUNNING"
    AWAITING_USER = "AWAITING_USER"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    IDLE = "IDLE"


@dataclass(eq=False, slots=True)
class PendingQuestion:
    question_id: str
    question: str
    choices: list[str]
    expires_at: datetime
    turn_input: str
    on_answer: Callable[[str], Script]


@dataclass(eq=False, slots=True)
class Session:
    id: str
    profile_name: str
    created_at: datetime
    log: EventLog
    updated_at: datetime
    status: Status = Status.RUNNING
    memory: list[str] = field(default_factory=list)
    pending: PendingQuestion | None = None
    latest_run_after: int = 0
    expired_question_id: str | None = None
    keys: list[str] = field(default_factory=list)

    def refresh(self, now: datetime) -> None:
        """Expire the pending question once its time is past: the session becomes IDLE."""
        if self.pending is not None and now >= self.pending.expires_at:
            self.expired_question_id = self.pending.question_id
            self.updated_at = max(self.updated_at, self.pending.expires_at)
            self.pending = None
            self.status = Status.IDLE

    def evictable(self, now: datetime, ttl: timedelta) -> bool:
        self.refresh(now)
        return self.status not in (Status.RUNNING, Status.AWAITING_USER) and (
            now - self.updated_at >= ttl
        )


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An Idempotency-Key and the run its first request started."""

    fingerprint: bytes
    session_id: str
    run_after: int


class AtCapacity(Exception):
    """The store holds as many sessions as it may, none of them evictable."""


class SessionStore:
    def __init__(self, config: ReferenceAgentConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._ttl = timedelta(seconds=config.session_ttl_s)
        self._sessions: dict[str, Session] = {}
        self._keys: dict[str, KeyRecord] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def now(self) -> datetime:
        return self._clock()

    def create(self, profile_name: str) -> Session:
        if len(self._sessions) >= self._config.max_sessions and not self.evict_idle():
            raise AtCapacity
        now = self._clock()
        session = Session(
            id=str(uuid.uuid4()),
            profile_name=profile_name,
            created_at=now,
            updated_at=now,
            log=EventLog(self._config.max_log_events),
        )
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session | None:
        session = self._sessions.get(session_id)
        if session is not None:
            session.refresh(self._clock())
        return session

    def evict_idle(self) -> int:
        """Forget every session idle for longer than the configured time; returns how many."""
        now = self._clock()
        idle = [s for s in self._sessions.values() if s.evictable(now, self._ttl)]
        for session in idle:
            del self._sessions[session.id]
            for key in session.keys:
                self._keys.pop(key, None)
        return len(idle)

    def remember_key(self, key: str, fingerprint: bytes, session: Session, run_after: int) -> None:
        self._keys[key] = KeyRecord(fingerprint, session.id, run_after)
        session.keys.append(key)

    def recall_key(self, key: str) -> KeyRecord | None:
        record = self._keys.get(key)
        if record is not None and record.session_id not in self._sessions:
            del self._keys[key]
            return None
        return record
