"""The model-backed summarizer against a real OpenAI-compatible HTTP server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.llm.openai_compatible import OpenAIEndpoint
from adapters.llm.summarizer import OpenAISummarizer
from adapters.tokenizer.tiktoken_counter import TiktokenCounter
from application.ports.history import SummarizerError
from domain.messages import ChatTurn, Role

KEY = "sk-summary-key-do-not-leak"
TURNS = [ChatTurn(Role.USER, "Find invoice 4711"), ChatTurn(Role.ASSISTANT, "Found it.")]
Reply = Callable[[dict[str, Any]], Awaitable[web.Response]]


@pytest.fixture
async def summarizer() -> AsyncIterator[Callable[..., Awaitable[tuple[OpenAISummarizer, list]]]]:
    runners: list[web.AppRunner] = []
    session = aiohttp.ClientSession()

    async def start(reply: Reply, total_timeout_s: float = 5) -> tuple[OpenAISummarizer, list]:
        seen: list[tuple[dict[str, Any], str | None]] = []

        async def handler(request: web.Request) -> web.Response:
            body = await request.json()
            seen.append((body, request.headers.get("Authorization")))
            return await reply(body)

        app = web.Application()
        app.router.add_post("/v1/chat/completions", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        endpoint = OpenAIEndpoint(
            f"http://127.0.0.1:{port}/v1", "m", KEY, total_timeout_s=total_timeout_s
        )
        return OpenAISummarizer(session, endpoint, TiktokenCounter()), seen

    yield start
    await session.close()
    for runner in runners:
        await runner.cleanup()


def completion(text: str | None) -> web.Response:
    return web.json_response({"choices": [{"index": 0, "message": {"content": text}}]})


async def test_it_asks_the_model_for_a_bounded_summary(summarizer) -> None:  # type: ignore[no-untyped-def]
    async def reply(body: dict[str, Any]) -> web.Response:
        return completion("  The user wants invoice 4711; it was found.  ")

    model, seen = await summarizer(reply)
    summary = await model.summarize(TURNS, 50)
    assert summary == "The user wants invoice 4711; it was found."
    [(body, authorization)] = seen
    assert body["max_tokens"] == 50 and body["stream"] is False
    assert "user: Find invoice 4711" in body["messages"][1]["content"]
    assert authorization == f"Bearer {KEY}"


async def test_a_long_answer_is_cut_to_the_budget(summarizer) -> None:  # type: ignore[no-untyped-def]
    async def reply(body: dict[str, Any]) -> web.Response:
        return completion("word " * 500)

    model, _ = await summarizer(reply)
    assert TiktokenCounter().count(await model.summarize(TURNS, 20)) <= 20


@pytest.mark.parametrize(
    ("response", "reason"),
    [
        (lambda: web.json_response({"error": KEY}, status=500), "HTTP 500"),
        (lambda: web.Response(text="not json", content_type="application/json"), "malformed"),
        (lambda: completion(None), "no summary"),
    ],
)
async def test_a_failing_endpoint_is_a_summarizer_error(summarizer, response, reason) -> None:  # type: ignore[no-untyped-def]
    async def reply(body: dict[str, Any]) -> web.Response:
        return response()

    model, _ = await summarizer(reply)
    with pytest.raises(SummarizerError, match=reason) as failed:
        await model.summarize(TURNS, 20)
    assert KEY not in str(failed.value) and KEY not in repr(model)


async def test_a_slow_endpoint_times_out(summarizer) -> None:  # type: ignore[no-untyped-def]
    async def reply(body: dict[str, Any]) -> web.Response:
        await asyncio.sleep(2)
        return completion("late")

    model, _ = await summarizer(reply, total_timeout_s=0.2)
    with pytest.raises(SummarizerError, match="timed out"):
        await model.summarize(TURNS, 20)


async def test_an_unreachable_endpoint_is_a_summarizer_error() -> None:
    async with aiohttp.ClientSession() as session:
        model = OpenAISummarizer(
            session, OpenAIEndpoint("http://127.0.0.1:9/v1", "m", KEY), TiktokenCounter()
        )
        with pytest.raises(SummarizerError, match="unreachable"):
            await model.summarize(TURNS, 20)
