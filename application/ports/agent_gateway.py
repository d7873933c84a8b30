"""The Agent Service as the application needs it: run a turn, follow it, ask how it is."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from domain.agent_events import AgentEvent, QuestionAsked
from domain.messages import ChatTurn


@dataclass(frozen=True, slots=True)
class UserContext:
    """Who the agent acts for; it filters what the agent may see and do."""

    user_id: str
    org_id: str
    permissions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AgentAnswer:
    """The user's answer to the question a paused run is waiting on."""

    question_id: str
    text: str


@dataclass(frozen=True, slots=True)
class AgentTurnRequest:
    """One turn: a new session when `session_id` is None, the next turn of that session
    otherwise, or the resumption of a paused run when `answer` is given.

    `idempotency_key` is sent on every attempt of the turn so the agent never runs it twice;
    the gateway makes one when it is None.
    """

    profile_name: str
    input: str
    chat_history: Sequence[ChatTurn]
    user_context: UserContext
    session_id: str | None = None
    answer: AgentAnswer | None = None
    idempotency_key: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteSessionStatus:
    """The Agent Service's view of a session."""

    session_id: str
    status: str  # RUNNING, AWAITING_USER, IDLE, COMPLETED or FAILED
    last_event_id: int
    pending_question: QuestionAsked | None = None


@dataclass(frozen=True, slots=True)
class AgentEventPage:
    """The events of a session after some id, as the poll fallback reads them, and whether the
    session's run has ended (no more events will follow until the next turn)."""

    events: tuple[AgentEvent, ...]
    ended: bool


class AgentGatewayError(Exception):
    """The Agent Service could not serve a call. Messages never carry the API key.

    `status` is the HTTP status that ended the call, if one did; `server_message` what the
    service said about it (for 400 and 422, the reason the request was refused).
    """

    def __init__(self, message: str, *, status: int | None = None, server_message: str = ""):
        super().__init__(message)
        self.status = status
        self.server_message = server_message


class AgentUnavailable(AgentGatewayError):
    """Unreachable, or still answering 503/500 after the retries allowed."""


class AgentTimeout(AgentGatewayError):
    """No answer in time: 408, headers too late, a stalled stream or the whole-stream cap."""


class AgentBadRequest(AgentGatewayError):
    """The Agent Service refused the request as invalid (400, 422); carries its message."""


class AgentAuthFailed(AgentGatewayError):
    """The API key was refused (401, 403)."""


class AgentConflict(AgentGatewayError):
    """The session does not accept the call now (409): a run is in progress, a question is
    pending, or the answer does not fit the pending question."""


class AgentSessionNotFound(AgentGatewayError):
    """The Agent Service does not know the session (404)."""


class AgentProtocolError(AgentGatewayError):
    """The Agent Service sent something that breaks the contract; says what was wrong."""


class AgentStreamLost(AgentGatewayError):
    """A started run could not be followed to its end: resuming and polling both failed, or
    the service no longer holds its events (410)."""


class AgentGateway(Protocol):
    def execute_agent(self, request: AgentTurnRequest) -> AsyncIterator[AgentEvent]:
        """Run a turn and yield its events until the terminal one. Retries only until the
        response starts; after that a broken stream is resumed, never re-posted. Ends with a
        terminal event or raises an AgentGatewayError; never ends silently."""
        ...

    def resume(self, session_id: str, last_event_id: int | None) -> AsyncIterator[AgentEvent]:
        """Follow a session's run from after `last_event_id` (None: from the first event of
        the session's latest run) to its terminal event, without executing anything again
        (used after a restart of this service)."""
        ...

    async def poll_events(self, session_id: str, after: int | None) -> AgentEventPage:
        """The session's events after event `after` (None: from the first event of its latest
        run) up to the next terminal event, without streaming: the fallback when a stream
        cannot be resumed."""
        ...

    async def get_session_status(self, session_id: str) -> RemoteSessionStatus: ...

    async def health(self) -> bool:
        """True when the Agent Service answers its health check."""
        ...
