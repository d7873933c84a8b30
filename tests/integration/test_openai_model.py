"""The OpenAI-compatible model adapter against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from adapters.llm.openai_compatible import OpenAIChatModel, OpenAIEndpoint
from application.ports.chat_model import ChatModelError
from domain.messages import ChatTurn, Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
KEY = "sk-test-key-do-not-leak"
BODY = web.RequestKey("body", dict)


def chunk(text: str | None = None, finish: str | None = None) -> bytes:
    delta = {} if text is None else {"content": text}
    body = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


async def streaming(
    request: web.Request, parts: list[bytes], pause: float = 0
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    for part in parts:
        await response.write(part)
        await asyncio.sleep(pause)
    return response


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[OpenAIChatModel]]]:
    runners: list[web.AppRunner] = []
    session = aiohttp.ClientSession()
    seen: list[web.Request] = []

    async def start(handler: Handler, idle_timeout_s: float = 5) -> OpenAIChatModel:
        async def recording(request: web.Request) -> web.StreamResponse:
            seen.append(request)
            request[BODY] = await request.json()
            return await handler(request)

        app = web.Application()
        app.router.add_post("/v1/chat/completions", recording)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        endpoint = OpenAIEndpoint(
            f"http://127.0.0.1:{port}/v1", "test-model", KEY, idle_timeout_s=idle_timeout_s
        )
        return OpenAIChatModel(session, endpoint)

    start.seen = seen  # type: ignore[attr-defined]
    yield start
    await session.close()
    for runner in runners:
        await runner.cleanup()


HISTORY = [ChatTurn(Role.SYSTEM, "be brief"), ChatTurn(Role.USER, "hi")]


async def collect(model: OpenAIChatModel) -> list[str]:
    return [delta async for delta in model.stream_reply(HISTORY)]


async def test_a_streamed_completion_arrives_delta_by_delta(serve) -> None:  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.StreamResponse:
        return await streaming(
            request, [chunk("Hel"), chunk("lo"), chunk(None, "stop"), b"data: [DONE]\n\n"]
        )

    model = await serve(handler)
    assert await collect(model) == ["Hel", "lo"]
    request = serve.seen[0]
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request[BODY] == {
        "model": "test-model",
        "stream": True,
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    }


@pytest.mark.parametrize(
    ("parts", "status", "reason"),
    [
        ([], 500, "HTTP 500"),
        ([b"data: {not json\n\n"], 200, "malformed"),
        ([chunk("par")], 200, "ended before"),
    ],
    ids=["server-error", "malformed", "cut-short"],
)
async def test_failures_become_model_errors_without_the_key(  # type: ignore[no-untyped-def]
    serve, parts: list[bytes], status: int, reason: str
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if status != 200:
            return web.json_response({"error": KEY}, status=status)
        return await streaming(request, parts)

    model = await serve(handler)
    with pytest.raises(ChatModelError) as failed:
        await collect(model)
    assert reason in str(failed.value)
    assert KEY not in str(failed.value) and KEY not in repr(model)


async def test_a_silent_endpoint_times_out(serve) -> None:  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.StreamResponse:
        return await streaming(request, [chunk("a"), chunk("b")], pause=1.0)

    model = await serve(handler, idle_timeout_s=0.2)
    with pytest.raises(ChatModelError, match="timed out"):
        await collect(model)


async def test_an_unreachable_endpoint_is_a_model_error() -> None:
    async with aiohttp.ClientSession() as session:
        model = OpenAIChatModel(session, OpenAIEndpoint("http://127.0.0.1:9/v1", "m", KEY))
        with pytest.raises(ChatModelError, match="unreachable"):
            await collect(model)
