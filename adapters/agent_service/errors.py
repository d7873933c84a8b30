"""Non-success answers of the Agent Service as the port's errors."""

from __future__ import annotations

import msgspec

from adapters.agent_service.wire import Problem
from application.ports.agent_gateway import (
    AgentAuthFailed,
    AgentBadRequest,
    AgentConflict,
    AgentGatewayError,
    AgentSessionNotFound,
    AgentStreamLost,
    AgentTimeout,
    AgentUnavailable,
)

_decode_problem = msgspec.json.Decoder(Problem).decode
MAX_MESSAGE_CHARS = 500


def server_message(body: bytes) -> str:
    """What the service said in its problem body (detail, else title, else the start of the
    body), on one line and at most 500 characters."""
    try:
        problem = _decode_problem(body)
        text = problem.detail or problem.title or ""
    except msgspec.DecodeError:
        text = body[:MAX_MESSAGE_CHARS].decode("utf-8", "replace")
    text = " ".join(text.split())
    return text[:MAX_MESSAGE_CHARS]


def error_for_status(status: int, what: str, message: str) -> AgentGatewayError:
    """The port error for a final (not retried) non-success status of call `what`."""
    kind, text = _category(status)
    said = f": {message}" if message else ""
    return kind(f"{what}: {text} (HTTP {status}){said}", status=status, server_message=message)


def _category(status: int) -> tuple[type[AgentGatewayError], str]:
    if status in (401, 403):
        return AgentAuthFailed, "the Agent Service refused the API key"
    if status == 404:
        return AgentSessionNotFound, "the Agent Service does not know the session"
    if status == 408:
        return AgentTimeout, "the Agent Service timed out"
    if status == 409:
        return AgentConflict, "the session does not accept this call now"
    if status == 410:
        return AgentStreamLost, "the Agent Service no longer holds those events"
    if 400 <= status < 500 and status != 429:
        return AgentBadRequest, "the Agent Service refused the request as invalid"
    return AgentUnavailable, "the Agent Service could not serve the call"
