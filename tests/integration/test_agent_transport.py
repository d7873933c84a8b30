"""The transport seam's contract, checked on the real aiohttp transport over loopback and on
the scripted fake the client's unit tests use, so the fake cannot drift from the real thing."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from adapters.agent_service.transport import (
    AiohttpTransport,
    ConnectionFailed,
    HeadersTimedOut,
    HttpResponse,
    HttpTransport,
    StreamBroken,
)
from tests.fakes.agent_transport import FakeResponse, FakeTransport

PARTS = [b"id: 1\nevent: THOUGHT\n", b'data: {"text": "hi"}\n\n']


async def events(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for part in PARTS:
        await response.write(part)
        await asyncio.sleep(0.01)
    return response


async def cut(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(PARTS[0])
    await asyncio.sleep(0.01)
    assert request.transport is not None
    request.transport.abort()
    return response


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.Response(text="late")


async def moved(request: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": "http://127.0.0.1:1/elsewhere"})


FAKE_SCRIPTS: dict[str, FakeResponse | BaseException] = {
    "/events": FakeResponse(200, {"Content-Type": "text/event-stream"}, list(PARTS)),
    "/cut": FakeResponse(200, {"Content-Type": "text/event-stream"}, [PARTS[0], StreamBroken("x")]),
    "/slow": HeadersTimedOut("no response headers in 0.2 s"),
    "/moved": FakeResponse(302, {"Location": "http://127.0.0.1:1/elsewhere"}, []),
    "/refused": ConnectionFailed("ClientConnectorError"),
}

Send = Callable[[str], Awaitable[HttpResponse]]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["aiohttp", "fake"])
async def send(request: pytest.FixtureRequest) -> AsyncIterator[Send]:
    if request.param == "fake":

        async def fake(path: str) -> HttpResponse:
            transport = FakeTransport(FAKE_SCRIPTS[path])
            return await transport.send("GET", "http://fake" + path, {}, None, 0.2)

        yield fake
        return
    app = web.Application()
    for path, handler in [("/events", events), ("/cut", cut), ("/slow", slow), ("/moved", moved)]:
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    session = aiohttp.ClientSession()
    transport: HttpTransport = AiohttpTransport(session, connect_timeout_s=2)

    async def real(path: str) -> HttpResponse:
        base = f"http://127.0.0.1:{closed_port() if path == '/refused' else port}"
        return await transport.send("GET", base + path, {"X-API-Key": "k"}, None, 0.2)

    yield real
    await session.close()
    await runner.cleanup()


async def test_a_stream_is_read_chunk_by_chunk_to_an_empty_end(send: Send) -> None:
    response = await send("/events")
    assert response.status == 200
    assert response.header("content-type") == "text/event-stream"
    body = b""
    while chunk := await response.chunk():
        body += chunk
    assert body == b"".join(PARTS)
    response.close()


async def test_a_body_cut_off_raises_stream_broken(send: Send) -> None:
    response = await send("/cut")
    with pytest.raises(StreamBroken):
        while await response.chunk():
            pass
    response.close()


async def test_headers_too_late_raise_headers_timed_out(send: Send) -> None:
    with pytest.raises(HeadersTimedOut):
        await send("/slow")


async def test_a_refused_connection_raises_connection_failed(send: Send) -> None:
    with pytest.raises(ConnectionFailed):
        await send("/refused")


async def test_redirects_are_returned_not_followed(send: Send) -> None:
    response = await send("/moved")
    assert response.status == 302
    response.close()
