"""Storage of agent sessions and their pending questions, shaped by the delegation use cases."""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from domain.agent_sessions import AgentSession


class LiveSessionExists(Exception):
    """Another live session of the conversation was stored first (at `add` or at commit)."""


class StaleAgentSession(Exception):
    """The session was changed by someone else since it was read; read it again."""


class AgentSessionRepository(Protocol):
    async def add(self, session: AgentSession) -> None:
        """Store a new session; raises LiveSessionExists when the conversation already has a
        live one (at once or at commit)."""
        ...

    async def get(self, session_id: UUID) -> AgentSession | None: ...

    async def live_for(self, conversation_id: UUID) -> AgentSession | None:
        """The conversation's ACTIVE or AWAITING_USER session, with its latest question."""
        ...

    async def latest_for(self, conversation_id: UUID) -> AgentSession | None:
        """The conversation's most recent session, live or ended."""
        ...

    async def by_agent_session_id(self, agent_session_id: str) -> AgentSession | None: ...

    async def save(self, session: AgentSession) -> None:
        """Write the session's state and question if nobody saved it since it was read, and
        bump `session.version`; raises StaleAgentSession otherwise (at once or at commit).
        After a failed transaction the session object is not what is stored: read it again."""
        ...

    async def save_progress(self, sessions: Sequence[AgentSession]) -> list[AgentSession]:
        """Write the progress of running turns, or their end (agent session id, last event
        id, last interaction, the turn's start, reply and lease: nothing else may have
        changed) like `save`, all at once. Returns the sessions saved by somebody else since
        they were read, left unwritten."""
        ...

    async def complete_idle(self, idle_since: datetime, now: datetime) -> int:
        """End as COMPLETED, in one statement, every ACTIVE session with no turn running and
        no interaction since `idle_since`; bumps their versions. Returns how many."""
        ...

    async def with_expired_questions(self, now: datetime, limit: int) -> Sequence[AgentSession]:
        """Sessions AWAITING_USER whose question expired unanswered at `now`, oldest first."""
        ...

    async def with_unleased_turns(self, now: datetime, limit: int) -> Sequence[AgentSession]:
        """Sessions whose turn runs with no consumer holding its lease at `now` (its process
        stopped), least recently active first."""
        ...

    async def with_stale_turns(self, quiet_since: datetime, limit: int) -> Sequence[AgentSession]:
        """Sessions whose turn runs but has seen no event since `quiet_since`."""
        ...
