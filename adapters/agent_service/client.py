"""AgentServiceClient: the Agent Service over HTTP and SSE, as the AgentGateway port.

Usable on its own as a library (docs/agent-client.md):

    async with AgentServiceClient(AgentClientConfig(base_url=url, api_key=key)) as client:
        async for event in client.execute_agent(request):
            ...

or handed the process's pooled `aiohttp.ClientSession` by the composition root.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from types import TracebackType

import aiohttp
import msgspec

from adapters.agent_service import wire
from adapters.agent_service.calls import Calls, NoMetrics, is_event_stream
from adapters.agent_service.config import AgentClientConfig
from adapters.agent_service.events import decode_event, question
from adapters.agent_service.follow import RunFollower
from adapters.agent_service.paths import EXECUTE, HEALTH, poll_path, session_path
from adapters.agent_service.retry import utc_now
from adapters.agent_service.transport import AiohttpTransport, HttpResponse, HttpTransport
from application.ports.agent_gateway import (
    AgentEventPage,
    AgentGateway,
    AgentProtocolError,
    AgentTurnRequest,
    RemoteSessionStatus,
)
from application.ports.metrics import Metrics
from domain.agent_events import AgentEvent

_encode = msgspec.json.Encoder().encode
_decode_status = msgspec.json.Decoder(wire.SessionStatus).decode
_decode_page = msgspec.json.Decoder(wire.EventPage).decode


def execute_body(request: AgentTurnRequest) -> bytes:
    """The JSON body of `POST /api/v1/agent/execute` for one turn."""
    context = request.user_context
    body = wire.ExecuteBody(
        profile_name=request.profile_name,
        input=request.input,
        chat_history=[wire.WireTurn(t.role.value, t.content) for t in request.chat_history],
        user_context=wire.WireUserContext(
            context.user_id, context.org_id, list(context.permissions)
        ),
        session_id=request.session_id,
        answer=(
            wire.WireAnswer(request.answer.question_id, request.answer.text)
            if request.answer
            else None
        ),
    )
    return _encode(body)


class AgentServiceClient(AgentGateway):
    """An async client of the Agent Service with resilient SSE consumption.

    Give it the process's pooled `session`, or use it as an async context manager and it
    makes (and closes) its own with the config's connection limits. The API key goes out as
    `X-API-Key` on every call and appears in no repr, log line or error message.
    """

    def __init__(
        self,
        config: AgentClientConfig,
        *,
        session: aiohttp.ClientSession | None = None,
        transport: HttpTransport | None = None,
        metrics: Metrics | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        uniform: Callable[[], float] = random.random,
        now: Callable[[], datetime] = utc_now,
        new_key: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._config = config
        self._own_session: aiohttp.ClientSession | None = None
        if transport is None and session is not None:
            transport = AiohttpTransport(session, config.connect_timeout_s)
        self._transport = transport
        self._metrics = metrics or NoMetrics()
        self._sleep = sleep
        self._uniform = uniform
        self._now = now
        self._new_key = new_key
        self._calls_: Calls | None = None

    def __repr__(self) -> str:
        return f"AgentServiceClient(base_url={self._config.base_url!r})"

    async def __aenter__(self) -> AgentServiceClient:
        if self._transport is None:
            config = self._config
            self._own_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=config.pool_limit, limit_per_host=config.pool_limit_per_host
                ),
                timeout=aiohttp.ClientTimeout(total=None),
            )
            self._transport = AiohttpTransport(self._own_session, config.connect_timeout_s)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._own_session is not None:
            await self._own_session.close()
            self._own_session = None
            self._transport = None
            self._calls_ = None

    @property
    def _calls(self) -> Calls:
        if self._calls_ is None:
            if self._transport is None:
                raise RuntimeError(
                    "AgentServiceClient has no HTTP session: pass one, or use `async with`"
                )
            self._calls_ = Calls(
                self._transport,
                self._config,
                metrics=self._metrics,
                sleep=self._sleep,
                uniform=self._uniform,
                now=self._now,
            )
        return self._calls_

    def execute_agent(self, request: AgentTurnRequest) -> AsyncIterator[AgentEvent]:
        calls = self._calls
        extra = {
            "Accept": "text/event-stream",
            "Content-Type": "application/json",
            "Idempotency-Key": request.idempotency_key or self._new_key(),
        }
        if request.correlation_id:
            extra["X-Correlation-ID"] = request.correlation_id
        headers = calls.headers(extra)
        body = execute_body(request)

        def post() -> Awaitable[HttpResponse]:
            return calls.send("POST", EXECUTE, "execute", headers, body, accept=is_event_stream)

        return RunFollower(calls, self.poll_events, request.session_id, None).events(post)

    def resume(self, session_id: str, last_event_id: int | None) -> AsyncIterator[AgentEvent]:
        return RunFollower(self._calls, self.poll_events, session_id, last_event_id).events()

    async def poll_events(self, session_id: str, after: int | None) -> AgentEventPage:
        wait_ms = int(self._config.poll_wait_s * 1000)
        path = poll_path(session_id, after, wait_ms)
        page: wire.EventPage = await self._calls.get_json(path, "poll", _decode_page)
        events = []
        for item in page.events:
            event = decode_event(item.event, item.id, item.data, session_id)
            if event.session_id != session_id:
                raise AgentProtocolError(f"poll: event {item.id} belongs to another session")
            events.append(event)
        return AgentEventPage(events=tuple(events), ended=page.ended)

    async def get_session_status(self, session_id: str) -> RemoteSessionStatus:
        status: wire.SessionStatus = await self._calls.get_json(
            session_path(session_id), "session status", _decode_status
        )
        pending = status.pending_question
        # While a question is pending, its ASK_USER is the session's newest event.
        return RemoteSessionStatus(
            session_id=status.session_id,
            status=status.status,
            last_event_id=status.last_event_id,
            pending_question=question(pending, status.last_event_id, status.session_id)
            if pending
            else None,
        )

    async def health(self) -> bool:
        calls = self._calls
        timeout_s = self._config.health_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                response = await calls.transport.send(
                    "GET", self._config.url(HEALTH), calls.headers(), None, timeout_s
                )
                response.close()
        except Exception:
            return False
        return response.status == 200
