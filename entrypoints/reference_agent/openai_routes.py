"""An OpenAI-compatible `POST /v1/chat/completions`, so convo's direct-model path can run over
real HTTP in tests and load tests. The reply is "You said: <last user message>", word by word."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated, Literal

import msgspec
from aiohttp import web
from msgspec import Meta

from entrypoints.reference_agent.agent_routes import SERVICE
from entrypoints.reference_agent.faults import pacing
from entrypoints.reference_agent.problems import from_validation, invalid
from entrypoints.reference_agent.scenarios import chunks, quote
from entrypoints.reference_agent.streaming import Wire

MODEL = "reference-echo"


class ContentPart(msgspec.Struct, frozen=True):
    type: str
    text: str | None = None


class ChatMessage(msgspec.Struct, frozen=True):
    role: str
    content: str | list[ContentPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class ChatRequest(msgspec.Struct, frozen=True):
    model: Annotated[str, Meta(min_length=1, max_length=200)]
    messages: Annotated[list[ChatMessage], Meta(min_length=1, max_length=1000)]
    stream: bool = False


class Delta(msgspec.Struct, frozen=True, omit_defaults=True):
    role: str | None = None
    content: str | None = None


class ChunkChoice(msgspec.Struct, frozen=True):
    index: int
    delta: Delta
    finish_reason: Literal["stop"] | None


class Chunk(msgspec.Struct, frozen=True):
    id: str
    created: int
    model: str
    choices: list[ChunkChoice]
    object: str = "chat.completion.chunk"


_decode_chat = msgspec.json.Decoder(ChatRequest).decode


async def chat_completions(request: web.Request) -> web.StreamResponse:
    agent = request.app[SERVICE]
    agent.counters.chat_calls += 1
    fault = agent.resolve_faults("chat", request.headers)
    await agent.refuse_if_injected(fault)
    body = _chat_body(await request.read())
    pace = pacing(request.headers)
    reply = _reply(body)
    first_s = (
        agent.config.first_event_ms if pace.first_event_ms is None else pace.first_event_ms
    ) / 1000
    delay_s = (
        agent.config.event_delay_ms if pace.event_delay_ms is None else pace.event_delay_ms
    ) / 1000
    if not body.stream:
        await asyncio.sleep(first_s)
        return web.json_response(_completion(body.model, reply))
    wire = Wire(request, fault, agent.heartbeat_s(pace), {})
    try:
        if await wire.open():
            await _stream(wire, body.model, reply, first_s, delay_s)
    except ConnectionError:
        pass
    return wire.response


async def models(_: web.Request) -> web.Response:
    return web.json_response(
        {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "convo"}]}
    )


async def _stream(wire: Wire, model: str, words: list[str], first_s: float, delay_s: float) -> None:
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def frame(delta: Delta, finish: Literal["stop"] | None = None) -> bytes:
        chunk = Chunk(ident, created, model, [ChunkChoice(0, delta, finish)])
        return b"data: %s\n\n" % msgspec.json.encode(chunk)

    frames = [frame(Delta(role="assistant", content=""))]
    frames += [frame(Delta(content=word)) for word in words]
    frames += [frame(Delta(), "stop"), b"data: [DONE]\n\n"]
    for index, data in enumerate(frames):
        await asyncio.sleep(first_s if index == 0 else delay_s)
        if not await wire.event(data, lambda _, d=data: _bad_json(d)):
            return
    await wire.finish()


def _bad_json(frame: bytes) -> bytes:
    return frame[: max(len(frame) // 2, 7)] + b"\n\n"


def _chat_body(raw: bytes) -> ChatRequest:
    try:
        return _decode_chat(raw)
    except msgspec.ValidationError as error:
        raise from_validation(error) from None
    except msgspec.DecodeError:
        raise invalid("body", "expected a JSON object", "invalid_json") from None


def _reply(body: ChatRequest) -> list[str]:
    last = next((m.text for m in reversed(body.messages) if m.role == "user"), "")
    return [chunk.text for chunk in chunks(f"You said: {quote(last)}")]


def _completion(model: str, words: list[str]) -> dict[str, object]:
    content = "".join(words)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"completion_tokens": len(words)},
    }


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/chat/completions", chat_completions)
    app.router.add_get("/v1/models", models)
