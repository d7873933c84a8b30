"""Single HTTP calls to the Agent Service: headers, retries by category, errors translated.

Every call carries `X-API-Key`. A call that fails before its response starts is retried as
`RetryPolicy` allows, with the same headers each time (so an execute keeps its
`Idempotency-Key`); once a 200 response has started, nothing here retries it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import msgspec

from adapters.agent_service.config import AgentClientConfig
from adapters.agent_service.errors import error_for_status, server_message
from adapters.agent_service.retry import CONNECTION_FAILED, parse_retry_after, utc_now
from adapters.agent_service.transport import (
    ConnectionFailed,
    HeadersTimedOut,
    HttpResponse,
    HttpTransport,
    StreamBroken,
)
from application.ports.agent_gateway import (
    AgentGatewayError,
    AgentProtocolError,
    AgentTimeout,
    AgentUnavailable,
)
from application.ports.metrics import Metrics

log = logging.getLogger("adapters.agent_service")

Sleep = Callable[[float], Awaitable[None]]


class NoMetrics(Metrics):
    def count(self, name: str, amount: int = 1, **labels: str) -> None:
        return None

    def observe(self, name: str, value: float, **labels: str) -> None:
        return None


def is_event_stream(response: HttpResponse) -> bool:
    content_type = response.header("Content-Type") or ""
    return content_type.split(";")[0].strip().lower() == "text/event-stream"


class Calls:
    """The call mechanics shared by every client method."""

    def __init__(
        self,
        transport: HttpTransport,
        config: AgentClientConfig,
        *,
        metrics: Metrics,
        sleep: Sleep = asyncio.sleep,
        uniform: Callable[[], float] = random.random,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.transport = transport
        self.config = config
        self.metrics = metrics
        self.sleep = sleep
        self.uniform = uniform
        self._now = now
        self._base_headers = {
            "X-API-Key": config.api_key,
            "User-Agent": config.user_agent,
        }

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {**self._base_headers, **extra} if extra else dict(self._base_headers)

    def scrub(self, text: str) -> str:
        """`text` without the API key, should a server ever echo it back."""
        key = self.config.api_key
        return text.replace(key, "********") if key else text

    async def send(
        self,
        method: str,
        path: str,
        what: str,
        headers: Mapping[str, str],
        body: bytes | None = None,
        accept: Callable[[HttpResponse], bool] = lambda response: True,
    ) -> HttpResponse:
        """The 200 response of a call, after the retries its failures allow. A 200 that
        `accept` rejects is a protocol error. Raises the port's errors."""
        url = self.config.url(path)
        retries = 0
        while True:
            failure, retry_after, status = await self._attempt(method, url, what, headers, body)
            if not isinstance(failure, AgentGatewayError):
                if accept(failure):
                    return failure
                failure.close()
                raise AgentProtocolError(
                    f"{what}: answered 200 with content type "
                    f"{(failure.header('Content-Type') or 'none')[:60]!r}"
                )
            delay = self.config.retry.delay_before_retry(status, retries, retry_after, self.uniform)
            if delay is None:
                raise failure
            retries += 1
            reason = str(status) if status else "connection"
            self.metrics.count("convo_agent_client_retries", call=what, reason=reason)
            log.warning("%s failed (%s); retry %d in %.2f s", what, failure, retries, delay)
            await self.sleep(delay)

    async def _attempt(
        self,
        method: str,
        url: str,
        what: str,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> tuple[HttpResponse | AgentGatewayError, float | None, int]:
        """One try: the 200 response, or the error it ended in with its Retry-After and
        status (CONNECTION_FAILED when there was no response)."""
        timeout_s = self.config.headers_timeout_s
        try:
            response = await self.transport.send(method, url, headers, body, timeout_s)
        except ConnectionFailed as error:
            failure = AgentUnavailable(f"{what}: the Agent Service is unreachable ({error})")
            return failure, None, CONNECTION_FAILED
        except HeadersTimedOut as error:
            raise AgentTimeout(f"{what}: {error}") from None
        if response.status == 200:
            return response, None, 200
        return await self.refusal(response, what)

    async def refusal(
        self, response: HttpResponse, what: str
    ) -> tuple[AgentGatewayError, float | None, int]:
        """The error a non-200 response stands for, its Retry-After, and its status."""
        try:
            body = await response.body()
        except StreamBroken:
            body = b""
        finally:
            response.close()
        retry_after = parse_retry_after(response.header("Retry-After"), self._now())
        message = self.scrub(server_message(body))
        return error_for_status(response.status, what, message), retry_after, response.status

    async def get_json(self, path: str, what: str, decode: Callable[[bytes], Any]) -> Any:
        """GET a JSON document, retried as the policy allows, within `request_timeout_s`."""
        headers = self.headers({"Accept": "application/json"})
        try:
            async with asyncio.timeout(self.config.request_timeout_s):
                response = await self.send("GET", path, what, headers)
                try:
                    raw = await response.body()
                finally:
                    response.close()
        except TimeoutError:
            raise AgentTimeout(
                f"{what}: no answer within {self.config.request_timeout_s:g} s"
            ) from None
        except StreamBroken as error:
            raise AgentUnavailable(f"{what}: the answer broke off ({error})") from None
        try:
            return decode(raw)
        except msgspec.DecodeError as error:
            raise AgentProtocolError(f"{what}: malformed answer: {error}") from None
