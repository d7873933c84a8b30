"""Streaming chat completions from any OpenAI-compatible endpoint, over aiohttp."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import aiohttp
import msgspec

from adapters.sse.parser import SseParser
from application.ports.chat_model import ChatModel, ChatModelError
from domain.messages import ChatTurn


class _Delta(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    delta: _Delta = msgspec.field(default_factory=_Delta)
    finish_reason: str | None = None


class _Chunk(msgspec.Struct):
    choices: list[_Choice] = msgspec.field(default_factory=list)


_decode_chunk = msgspec.json.Decoder(_Chunk).decode


@dataclass(frozen=True, slots=True)
class OpenAIEndpoint:
    base_url: str
    model: str
    api_key: str | None = None
    connect_timeout_s: float = 10.0
    idle_timeout_s: float = 60.0
    total_timeout_s: float = 300.0


class OpenAIChatModel(ChatModel):
    """Calls `POST {base_url}/chat/completions` with `stream: true`.

    The HTTP session is shared and owned by the caller (one per process). The API key goes in
    the Authorization header only; errors name the endpoint's status, never the key.
    """

    def __init__(self, session: aiohttp.ClientSession, endpoint: OpenAIEndpoint) -> None:
        self._session = session
        self._endpoint = endpoint

    def __repr__(self) -> str:
        return (
            f"OpenAIChatModel(base_url={self._endpoint.base_url!r}, model={self._endpoint.model!r})"
        )

    async def stream_reply(self, history: Sequence[ChatTurn]) -> AsyncIterator[str]:
        endpoint = self._endpoint
        body = {
            "model": endpoint.model,
            "stream": True,
            "messages": [{"role": turn.role.value, "content": turn.content} for turn in history],
        }
        headers = {"Accept": "text/event-stream"}
        if endpoint.api_key:
            headers["Authorization"] = f"Bearer {endpoint.api_key}"
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=endpoint.connect_timeout_s,
            sock_read=endpoint.idle_timeout_s,
        )
        url = endpoint.base_url.rstrip("/") + "/chat/completions"
        try:
            async with asyncio.timeout(endpoint.total_timeout_s):
                async with self._session.post(
                    url, json=body, headers=headers, timeout=timeout
                ) as response:
                    if response.status != 200:
                        raise ChatModelError(f"model endpoint answered HTTP {response.status}")
                    async for delta in _deltas(response):
                        yield delta
        except TimeoutError as error:
            raise ChatModelError("model endpoint timed out") from error
        except aiohttp.ClientError as error:
            raise ChatModelError(f"model endpoint unreachable: {type(error).__name__}") from error


async def _deltas(response: aiohttp.ClientResponse) -> AsyncIterator[str]:
    """The text deltas of a completion stream; it must end with [DONE] or a finish reason."""
    parser = SseParser()
    finished = False
    async for chunk in response.content.iter_any():
        for event in parser.feed(chunk):
            if event.data.strip() == "[DONE]":
                return
            try:
                parsed = _decode_chunk(event.data)
            except msgspec.DecodeError as error:
                raise ChatModelError("model endpoint sent a malformed chunk") from error
            for choice in parsed.choices:
                finished = finished or choice.finish_reason is not None
                if choice.delta.content:
                    yield choice.delta.content
    if not finished:
        raise ChatModelError("model stream ended before the reply was finished")
