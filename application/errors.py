"""Errors a use case raises for its caller; entrypoints map them to status codes."""


class ApplicationError(Exception):
    """A request cannot be carried out as asked."""


class ConversationNotFound(ApplicationError):
    """No such conversation for this caller: someone else's is reported the same way."""


class IdempotencyKeyReused(ApplicationError):
    """An Idempotency-Key came back with a different request than the one it first named."""
