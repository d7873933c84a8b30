"""In-memory fakes of the delegation ports. The storage fakes run the same contract tests as
the SQL adapter (tests/integration/test_delegation_repositories.py)."""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from application.ports.agent_gateway import (
    AgentEventPage,
    AgentGateway,
    AgentGatewayError,
    AgentTurnRequest,
    RemoteSessionStatus,
)
from application.ports.agent_sessions import (
    AgentSessionRepository,
    LiveSessionExists,
    StaleAgentSession,
)
from application.ports.history import (
    HistoryRepository,
    Summarizer,
    SummarizerError,
    TokenCounter,
)
from application.ports.routing_overrides import RoutingOverrideRepository
from domain.agent_events import AgentEvent
from domain.agent_sessions import AgentSession, SessionStatus
from domain.conversations import Owner
from domain.messages import ChatTurn, Message, MessageStatus
from domain.routing import Override, Overrides


@dataclass
class DelegationTables:
    sessions: dict[UUID, AgentSession] = field(default_factory=dict)
    overrides: dict[tuple[str, str], Override] = field(default_factory=dict)
    token_counts: dict[tuple[UUID, str], int] = field(default_factory=dict)


@dataclass
class Checks:
    """What a fake transaction must verify against the committed state at commit."""

    versions: dict[UUID, int] = field(default_factory=dict)
    added: list[AgentSession] = field(default_factory=list)


def check_commit(shared: DelegationTables, working: DelegationTables, checks: Checks) -> None:
    for session_id, version in checks.versions.items():
        stored = shared.sessions.get(session_id)
        if stored is not None and stored.version != version:
            raise StaleAgentSession(str(session_id))
    for added in checks.added:
        if _live_other(shared.sessions.values(), added):
            raise LiveSessionExists(str(added.conversation_id))


def _live_other(sessions: object, session: AgentSession) -> bool:
    return any(
        s.is_live and s.conversation_id == session.conversation_id and s.id != session.id
        for s in sessions  # type: ignore[attr-defined]
    )


class FakeAgentSessionRepository(AgentSessionRepository):
    def __init__(self, tables: DelegationTables, checks: Checks) -> None:
        self._t = tables
        self._checks = checks

    async def add(self, session: AgentSession) -> None:
        if session.is_live and _live_other(self._t.sessions.values(), session):
            raise LiveSessionExists(str(session.conversation_id))
        self._t.sessions[session.id] = copy.deepcopy(session)
        self._checks.added.append(session)

    async def get(self, session_id: UUID) -> AgentSession | None:
        return copy.deepcopy(self._t.sessions.get(session_id))

    async def live_for(self, conversation_id: UUID) -> AgentSession | None:
        return self._first(lambda s: s.conversation_id == conversation_id and s.is_live)

    async def latest_for(self, conversation_id: UUID) -> AgentSession | None:
        mine = [s for s in self._t.sessions.values() if s.conversation_id == conversation_id]
        newest = max(mine, key=lambda s: (s.created_at, s.id), default=None)
        return copy.deepcopy(newest)

    async def by_agent_session_id(self, agent_session_id: str) -> AgentSession | None:
        return self._first(lambda s: s.agent_session_id == agent_session_id)

    def _first(self, wanted) -> AgentSession | None:  # type: ignore[no-untyped-def]
        return copy.deepcopy(next((s for s in self._t.sessions.values() if wanted(s)), None))

    async def save(self, session: AgentSession) -> None:
        stored = self._t.sessions.get(session.id)
        if stored is None or stored.version != session.version:
            raise StaleAgentSession(str(session.id))
        self._checks.versions.setdefault(session.id, session.version)
        session.version += 1
        self._t.sessions[session.id] = copy.deepcopy(session)

    async def save_progress(self, sessions: Sequence[AgentSession]) -> list[AgentSession]:
        stale = []
        for session in sessions:
            try:
                await self.save(session)
            except StaleAgentSession:
                stale.append(session)
        return stale

    async def complete_idle(self, idle_since: datetime, now: datetime) -> int:
        idle = [
            s
            for s in self._t.sessions.values()
            if s.status is SessionStatus.ACTIVE
            and not s.turn_running
            and s.last_interaction_at <= idle_since
        ]
        for session in idle:
            session.complete(now)
            session.version += 1
        return len(idle)

    async def with_expired_questions(self, now: datetime, limit: int) -> Sequence[AgentSession]:
        expired = [s for s in self._t.sessions.values() if s.question_expired(now)]
        expired.sort(key=lambda s: (s.question.expires_at, s.id))  # type: ignore[union-attr]
        return [copy.deepcopy(s) for s in expired[:limit]]

    async def with_unleased_turns(self, now: datetime, limit: int) -> Sequence[AgentSession]:
        return self._oldest([s for s in self._t.sessions.values() if s.lease_expired(now)], limit)

    async def with_stale_turns(self, quiet_since: datetime, limit: int) -> Sequence[AgentSession]:
        stale = [
            s
            for s in self._t.sessions.values()
            if s.turn_running and s.last_interaction_at <= quiet_since
        ]
        return self._oldest(stale, limit)

    @staticmethod
    def _oldest(sessions: list[AgentSession], limit: int) -> list[AgentSession]:
        sessions.sort(key=lambda s: (s.last_interaction_at, s.id))
        return [copy.deepcopy(s) for s in sessions[:limit]]


class FakeRoutingOverrideRepository(RoutingOverrideRepository):
    def __init__(self, tables: DelegationTables) -> None:
        self._t = tables

    async def for_owner(self, owner: Owner) -> Overrides:
        return Overrides(
            org=self._t.overrides.get((owner.org_id, ""), Override()),
            user=self._t.overrides.get((owner.org_id, owner.user_id), Override()),
        )

    async def put(
        self, org_id: str, user_id: str | None, override: Override, now: datetime
    ) -> None:
        self._t.overrides[(org_id, user_id or "")] = override

    async def delete(self, org_id: str, user_id: str | None) -> bool:
        return self._t.overrides.pop((org_id, user_id or ""), None) is not None

    async def users_of(self, org_id: str) -> Sequence[tuple[str, Override]]:
        return sorted(
            (user, override)
            for (org, user), override in self._t.overrides.items()
            if org == org_id and user
        )


class FakeHistoryRepository(HistoryRepository):
    def __init__(self, messages: dict[UUID, Message], tables: DelegationTables) -> None:
        self._messages = messages
        self._t = tables

    async def recent(
        self, conversation_id: UUID, limit: int, encoding: str
    ) -> Sequence[tuple[Message, int | None]]:
        complete = sorted(
            (
                m
                for m in self._messages.values()
                if m.conversation_id == conversation_id and m.status is MessageStatus.COMPLETE
            ),
            key=lambda m: (m.created_at, m.id),
        )[-limit:]
        return [(copy.copy(m), self._t.token_counts.get((m.id, encoding))) for m in complete]

    async def remember_token_counts(self, encoding: str, counts: Mapping[UUID, int]) -> None:
        for message_id, tokens in counts.items():
            if message_id in self._messages:
                self._t.token_counts[(message_id, encoding)] = tokens


class ScriptedAgentGateway(AgentGateway):
    """Plays a scripted list of events per turn (one script per call, the last one repeating)
    and can raise a gateway error after a number of events. Records every request as it is
    made, before its events are read."""

    def __init__(
        self,
        *scripts: Sequence[AgentEvent],
        fail_with: AgentGatewayError | None = None,
        fail_after: int = 0,
        healthy: bool = True,
        hold_after: int | None = None,
        pause_s: float = 0.0,
    ) -> None:
        self.scripts = [list(script) for script in scripts] or [[]]
        self.fail_with = fail_with
        self.fail_after = fail_after
        self.healthy = healthy
        self.hold_after = hold_after
        self.pause_s = pause_s
        self.held = asyncio.Event()
        self.release = asyncio.Event()
        self.pulled = 0
        self.requests: list[AgentTurnRequest] = []
        self.statuses: dict[str, RemoteSessionStatus] = {}

    def execute_agent(self, request: AgentTurnRequest) -> AsyncIterator[AgentEvent]:
        self.requests.append(request)
        return self._play(self.scripts[min(len(self.requests), len(self.scripts)) - 1])

    async def _play(self, script: Sequence[AgentEvent]) -> AsyncIterator[AgentEvent]:
        for index, event in enumerate(script):
            if self.fail_with is not None and index == self.fail_after:
                raise self.fail_with
            if index == self.hold_after:
                self.held.set()
                await self.release.wait()
            self.pulled += 1
            if self.pause_s:
                await asyncio.sleep(self.pause_s)
            yield event
        if self.fail_with is not None and self.fail_after >= len(script):
            raise self.fail_with

    async def resume(self, session_id: str, last_event_id: int | None) -> AsyncIterator[AgentEvent]:
        for event in self._after(last_event_id):
            yield event

    async def poll_events(self, session_id: str, after: int | None) -> AgentEventPage:
        events = tuple(self._after(after))
        return AgentEventPage(events=events, ended=bool(events) and events[-1].is_terminal)

    def _after(self, last_event_id: int | None) -> list[AgentEvent]:
        """The scripted events after `last_event_id` (None: from the first) up to and
        including the next terminal one, as a run's resume or poll returns them."""
        floor = 0 if last_event_id is None else last_event_id
        found: list[AgentEvent] = []
        for event in (e for script in self.scripts for e in script if e.event_id > floor):
            found.append(event)
            if event.is_terminal:
                break
        return found

    async def get_session_status(self, session_id: str) -> RemoteSessionStatus:
        return self.statuses[session_id]

    async def health(self) -> bool:
        return self.healthy


class FirstWordsSummarizer(Summarizer):
    """Summarizes as the first word of each turn; fails on demand."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[list[ChatTurn], int]] = []

    async def summarize(self, turns: Sequence[ChatTurn], max_tokens: int) -> str:
        self.calls.append((list(turns), max_tokens))
        if self.fail:
            raise SummarizerError("scripted failure")
        words = [turn.content.split()[0] for turn in turns if turn.content.split()]
        return " ".join(words[:max_tokens])


class WordCounter(TokenCounter):
    """One token per whitespace-separated word; counts every call it gets."""

    encoding = "words"

    def __init__(self) -> None:
        self.counted = 0

    def count(self, text: str) -> int:
        self.counted += 1
        return len(text.split())

    def truncate(self, text: str, max_tokens: int) -> str:
        words = list(re.finditer(r"\S+", text))
        if len(words) <= max_tokens:
            return text
        return text[: words[max_tokens - 1].end()] if max_tokens > 0 else ""
