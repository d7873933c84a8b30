"""Errors as RFC 9457 problem bodies with a stable `code` (the contract's error table)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus

import msgspec
from aiohttp import web

from entrypoints.reference_agent.wire import FieldProblem, ProblemBody

PROBLEM_JSON = "application/problem+json"

CODES = {
    400: "invalid_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    422: "unprocessable",
    500: "internal",
    503: "unavailable",
}


class Problem(Exception):
    """An error answer; raised anywhere in a handler, written by the error middleware."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        errors: Sequence[FieldProblem] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = list(errors)
        self.headers = dict(headers or {})


def invalid(field: str, message: str, code: str = "invalid_request") -> Problem:
    """A 400 naming the offending field or header."""
    return Problem(400, code, f"{field}: {message}", [FieldProblem(field, message)])


def title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(problem: Problem) -> web.Response:
    body = ProblemBody(
        title=title(problem.status),
        status=problem.status,
        code=problem.code,
        detail=problem.detail,
        errors=problem.errors,
    )
    return web.Response(
        body=msgspec.json.encode(body),
        status=problem.status,
        content_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def from_validation(error: msgspec.ValidationError, prefix: str = "") -> Problem:
    """A 400 naming the field msgspec found wrong (`user_context.user_id`, `chat_history[2]`)."""
    message = str(error)
    base, _, where = message.partition(" - at `$")
    path = where.rstrip("`").lstrip(".")
    if base.startswith(("Object missing required field `", "Object contains unknown field `")):
        missing = base.split("`")[1]
        path = f"{path}.{missing}" if path else missing
    return invalid(prefix + (path or "body"), base)
