"""Every error leaves as RFC 9457 problem details; nothing internal or secret is echoed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from application.errors import (
    AgentBusy,
    ApplicationError,
    ConversationNotFound,
    IdempotencyKeyReused,
    NoAgentSession,
    NotPermitted,
)
from application.ports.unit_of_work import StorageBusy
from domain.agent_sessions import QuestionExpired
from domain.errors import DomainError, InvalidField
from entrypoints.http.schemas import FieldProblem, Problem

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_S = "1"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str | None = None,
    errors: list[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[Problem]:
    body = Problem(
        title=TITLES.get(status, "Error"), status=status, detail=detail, errors=errors or []
    )
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_errors(extra: Any) -> list[FieldProblem]:
    """Litestar reports each failed parameter as {message, key, source}."""
    items = extra if isinstance(extra, list) else [extra] if isinstance(extra, dict) else []
    found = []
    for item in items:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid value"))
        key = item.get("key")
        if key in (None, "data"):
            key = _field_from_message(message) or "body"
        elif item.get("source") == "header":
            key = "-".join(part.capitalize() for part in str(key).split("_"))
        found.append(FieldProblem(field=str(key), message=message))
    return found


def _field_from_message(message: str) -> str | None:
    """msgspec ends body errors with ``- at `$.field` ``; unknown fields are named in backticks."""
    if " - at `$." in message:
        return message.rsplit(" - at `$.", 1)[1].rstrip("`")
    if message.startswith("Object contains unknown field `"):
        return message.split("`")[1]
    if message.startswith("Object missing required field `"):
        return message.split("`")[1]
    return None


def on_validation(_: Request, error: ValidationException) -> Response[Problem]:
    errors = _field_errors(error.extra)
    if not errors:
        detail = error.detail or "invalid request body"
        return problem(400, detail, [FieldProblem(field="body", message=detail)])
    return problem(400, "invalid " + ", ".join(e.field for e in errors), errors)


def on_http(_: Request, error: HTTPException) -> Response[Problem]:
    headers = dict(error.headers or {})
    if isinstance(error, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", "Bearer")
    detail = (
        error.detail if error.detail and error.detail != TITLES.get(error.status_code) else None
    )
    errors = _field_errors(error.extra)
    if error.status_code == 400 and not errors:
        errors = [FieldProblem(field="body", message=detail or "malformed request body")]
    return problem(error.status_code, detail, errors, headers)


def on_domain(_: Request, error: DomainError) -> Response[Problem]:
    if isinstance(error, InvalidField):
        return problem(400, str(error), [FieldProblem(field=error.field, message=error.reason)])
    if isinstance(error, QuestionExpired):
        return problem(
            410,
            "The agent's question expired and its session was closed. "
            "Send a new message to start fresh.",
        )
    return problem(409, str(error))


def on_application(_: Request, error: ApplicationError) -> Response[Problem]:
    if isinstance(error, ConversationNotFound):
        return problem(404, "conversation not found")
    if isinstance(error, NoAgentSession):
        return problem(404, "no agent session")
    if isinstance(error, NotPermitted):
        return problem(403, str(error))
    if isinstance(error, AgentBusy):
        return problem(
            409, "The agent is still working on the previous message; send this one after it."
        )
    if isinstance(error, IdempotencyKeyReused):
        return problem(
            422,
            "this Idempotency-Key was already used with a different request",
            [FieldProblem(field="Idempotency-Key", message="reused with a different body")],
        )
    return problem(409, str(error))


def on_storage_busy(request: Request, error: StorageBusy) -> Response[Problem]:
    """Overload is not a fault of the request: 503, and when to try again."""
    log.warning("%s for %s %s", error, request.method, request.url.path)
    return problem(
        503, "the service is busy; try again shortly", headers={"Retry-After": RETRY_AFTER_S}
    )


def on_unexpected(request: Request, error: Exception) -> Response[Problem]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "an unexpected error occurred")


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    ValidationException: on_validation,
    HTTPException: on_http,
    DomainError: on_domain,
    ApplicationError: on_application,
    StorageBusy: on_storage_busy,
    Exception: on_unexpected,
}
