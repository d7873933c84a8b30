"""What a failed agent turn tells the user, and what it leaves for operators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from application.ports.agent_gateway import (
    AgentAuthFailed,
    AgentBadRequest,
    AgentConflict,
    AgentGatewayError,
    AgentProtocolError,
    AgentSessionNotFound,
    AgentStreamLost,
    AgentTimeout,
    AgentTurnRequest,
    AgentUnavailable,
)
from application.ports.dead_letters import DeadLetter
from domain.agent_events import AgentFailed

AGENT_FAILED = "The agent could not complete this request."
AGENT_FAILED_RETRYABLE = "The agent ran into a problem and stopped. Please try again."
INTERRUPTED = "Stopped: a newer message or the end of the agent session took over."
RESTARTED_EARLY = (
    "The agent's answer was interrupted because the service restarted. Please send it again."
)
STALLED = "The agent stopped responding, so this answer was abandoned. Please try again."
BUSY = "The agent is still working on an earlier message. Please try again shortly."
ALREADY_ANSWERED = "That question was already answered."
QUESTION_EXPIRED = "Agent question expired, starting fresh conversation"

_GATEWAY_TEXTS: list[tuple[type[AgentGatewayError], str, bool]] = [
    (AgentUnavailable, "The agent is unavailable right now. Please try again in a moment.", True),
    (AgentTimeout, "The agent took too long to answer. Please try again.", True),
    (AgentConflict, BUSY, True),
    (AgentStreamLost, "The agent's answer was cut off. Please try again.", True),
    (AgentProtocolError, "The agent sent an answer that could not be read.", True),
    (AgentBadRequest, "The agent could not accept this request.", False),
    (AgentAuthFailed, "The agent is not available because of a configuration problem.", False),
    (AgentSessionNotFound, "The agent no longer knows this conversation. Please try again.", True),
]


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed turn: `kind` and `code` for operators, `text` fit to show the user."""

    kind: str
    text: str
    retryable: bool
    detail: str
    code: str | None = None


def gateway_failure(error: AgentGatewayError) -> Failure:
    for kind, text, retryable in _GATEWAY_TEXTS:
        if isinstance(error, kind):
            return Failure(_snake(kind.__name__), text, retryable, str(error))
    return Failure("agent_gateway_error", AGENT_FAILED, True, str(error))


def agent_failure(event: AgentFailed) -> Failure:
    text = AGENT_FAILED_RETRYABLE if event.retryable else AGENT_FAILED
    return Failure("agent_error", text, event.retryable, event.message, event.code)


def dead_letter(
    letter_id: UUID,
    failure: Failure,
    conversation_id: UUID,
    now: datetime,
    session_id: UUID | None,
    reply_id: UUID | None,
    agent_session_id: str | None,
    request: AgentTurnRequest | None,
) -> DeadLetter:
    return DeadLetter(
        id=letter_id,
        conversation_id=conversation_id,
        error_kind=failure.kind,
        error_code=failure.code,
        error_message=failure.detail,
        retryable=failure.retryable,
        created_at=now,
        session_id=session_id,
        reply_id=reply_id,
        agent_session_id=agent_session_id,
        request=describe(request),
    )


def describe(request: AgentTurnRequest | None) -> dict[str, Any]:
    """The request as kept in a dead letter: enough to understand and replay it, no secret
    (the API key is never part of a request value)."""
    if request is None:
        return {}
    return {
        "profile_name": request.profile_name,
        "input": request.input,
        "chat_history": [
            {"role": turn.role.value, "content": turn.content} for turn in request.chat_history
        ],
        "user_context": {
            "user_id": request.user_context.user_id,
            "org_id": request.user_context.org_id,
            "permissions": list(request.user_context.permissions),
        },
        "session_id": request.session_id,
        "answer": (
            {"question_id": request.answer.question_id, "text": request.answer.text}
            if request.answer
            else None
        ),
        "idempotency_key": request.idempotency_key,
    }


def _snake(name: str) -> str:
    letters = [f"_{c.lower()}" if c.isupper() else c for c in name]
    return "".join(letters).lstrip("_")
