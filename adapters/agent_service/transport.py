"""The HTTP calls the client makes, behind a small seam so policies can be tested on a fake.

`AiohttpTransport` is the real one: a shared, pooled `aiohttp.ClientSession` (never one per
call), connect and response-header timeouts, no redirects (the API key must not follow one to
another host), and aiohttp's exceptions turned into the three failures the client reasons
about. Reading a stream's body has no aiohttp timeout at all: the client's watchdog and
whole-stream cap own that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

import aiohttp


class TransportError(Exception):
    """A call failed below HTTP; the message names the failure's kind, never a header."""


class ConnectionFailed(TransportError):
    """No response came: refused, reset, unreachable, or closed before the headers."""


class HeadersTimedOut(TransportError):
    """The response headers did not arrive in time."""


class StreamBroken(TransportError):
    """The body broke off: reset, truncated or otherwise unreadable."""


class HttpResponse(Protocol):
    status: int

    def header(self, name: str) -> str | None: ...

    async def body(self) -> bytes:
        """The whole body; raises StreamBroken when it cannot be read to its end."""
        ...

    async def chunk(self) -> bytes:
        """The next bytes of the body as they arrive, b"" at its end; raises StreamBroken."""
        ...

    def close(self) -> None:
        """Give the connection back when the body was read to its end, else drop it."""
        ...


class HttpTransport(Protocol):
    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        headers_timeout_s: float,
    ) -> HttpResponse:
        """Send a request and return once the response headers are in; the caller closes
        the response. Raises ConnectionFailed or HeadersTimedOut."""
        ...


class AiohttpResponse(HttpResponse):
    __slots__ = ("_content", "_response", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self._content = response.content
        self.status = response.status

    def header(self, name: str) -> str | None:
        return self._response.headers.get(name)

    async def body(self) -> bytes:
        try:
            return await self._response.read()
        except (aiohttp.ClientError, OSError) as error:
            raise StreamBroken(type(error).__name__) from None

    async def chunk(self) -> bytes:
        try:
            return await self._content.readany()
        except (aiohttp.ClientError, OSError) as error:
            raise StreamBroken(type(error).__name__) from None

    def close(self) -> None:
        if self._content.at_eof():
            self._response.release()
        else:
            self._response.close()


class AiohttpTransport(HttpTransport):
    def __init__(self, session: aiohttp.ClientSession, connect_timeout_s: float) -> None:
        self._session = session
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=None, sock_connect=connect_timeout_s, sock_read=None
        )

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        headers_timeout_s: float,
    ) -> HttpResponse:
        deadline = asyncio.timeout(headers_timeout_s)
        try:
            async with deadline:
                response = await self._session.request(
                    method,
                    url,
                    headers=headers,
                    data=body,
                    timeout=self._timeout,
                    allow_redirects=False,
                )
        except aiohttp.ClientError as error:
            raise ConnectionFailed(type(error).__name__) from None
        except OSError as error:  # TimeoutError included: it is an OSError
            if deadline.expired():
                raise HeadersTimedOut(f"no response headers in {headers_timeout_s:g} s") from None
            raise ConnectionFailed(type(error).__name__) from None
        return AiohttpResponse(response)
