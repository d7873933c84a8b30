"""The reference Agent Service as an aiohttp application: `create_app(config)`."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from entrypoints.reference_agent import admin_routes, agent_routes, openai_routes
from entrypoints.reference_agent.agent_routes import CORRELATION, SERVICE
from entrypoints.reference_agent.config import Clock, ReferenceAgentConfig, utc_now
from entrypoints.reference_agent.problems import CODES, Problem, invalid, problem_response
from entrypoints.reference_agent.service import ReferenceAgent

log = logging.getLogger("convo.reference_agent")

MAX_BODY_BYTES = 2 * 1024 * 1024
OPENAI_PREFIX = "/v1/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(config: ReferenceAgentConfig, clock: Clock = utc_now) -> web.Application:
    """A fresh service with its own sessions, faults and counters."""
    app = web.Application(
        client_max_size=MAX_BODY_BYTES, middlewares=[_errors, _correlation, _authenticated]
    )
    app[SERVICE] = ReferenceAgent(config, clock)
    agent_routes.add_routes(app)
    admin_routes.add_routes(app)
    openai_routes.add_routes(app)
    app.on_response_prepare.append(_echo_correlation)
    app.cleanup_ctx.append(_sweeping)
    app.on_shutdown.append(_stop_runs)
    return app


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Problem as problem:
        return _render(request, problem)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = CODES.get(error.status, "error")
        return _render(request, Problem(error.status, code, error.reason))
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return _render(request, Problem(500, "internal", "the reference service failed"))


@web.middleware
async def _correlation(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get("X-Correlation-ID")
    request[CORRELATION] = str(uuid.uuid4())
    if given is not None:
        if not (1 <= len(given) <= 200 and given.isascii() and given.isprintable()):
            raise invalid(
                "X-Correlation-ID", "expected 1 to 200 visible ASCII characters", "invalid_header"
            )
        request[CORRELATION] = given
    return await handler(request)


@web.middleware
async def _authenticated(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path == "/health":
        return await handler(request)
    key = request.headers.get("X-API-Key")
    authorization = request.headers.get("Authorization", "")
    if key is None and request.path.startswith(OPENAI_PREFIX) and authorization[:7] == "Bearer ":
        key = authorization[7:]
    expected = request.app[SERVICE].config.api_key
    if key is None or not hmac.compare_digest(_bytes(key), _bytes(expected)):
        raise Problem(401, "unauthorized", "a valid X-API-Key is required")
    return await handler(request)


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _render(request: web.Request, problem: Problem) -> web.Response:
    if request.path.startswith(OPENAI_PREFIX):
        return _openai_error(problem)
    return problem_response(problem)


def _openai_error(problem: Problem) -> web.Response:
    kind = "authentication_error" if problem.status == 401 else "invalid_request_error"
    kind = "server_error" if problem.status >= 500 else kind
    body = {"error": {"message": problem.detail, "type": kind, "code": problem.code}}
    return web.json_response(body, status=problem.status, headers=problem.headers)


async def _echo_correlation(request: web.Request, response: web.StreamResponse) -> None:
    correlation = request.get(CORRELATION)
    if correlation is not None:
        response.headers["X-Correlation-ID"] = correlation


async def _sweeping(app: web.Application) -> AsyncIterator[None]:
    sweeper = asyncio.create_task(app[SERVICE].sweep())
    yield
    sweeper.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sweeper


async def _stop_runs(app: web.Application) -> None:
    await app[SERVICE].close()
