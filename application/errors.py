"""Errors a use case raises for its caller; entrypoints map them to status codes."""


class ApplicationError(Exception):
    """A request cannot be carried out as asked."""


class ConversationNotFound(ApplicationError):
    """No such conversation for this caller: someone else's is reported the same way."""


class IdempotencyKeyReused(ApplicationError):
    """An Idempotency-Key came back with a different request than the one it first named."""


class NoAgentSession(ApplicationError):
    """The conversation has no agent session to act on."""


class SessionContention(ApplicationError):
    """Concurrent changes to the conversation's agent session kept winning; try again."""


class NotPermitted(ApplicationError):
    """The caller's token lacks the permission this needs (or it is for another organisation)."""


class AgentBusy(ApplicationError):
    """The agent is working on an earlier message and the organisation refuses new ones
    meanwhile (busy policy `reject`)."""
