"""The direct-model adapter over real HTTP against the reference service's OpenAI-compatible
endpoint, with its faults."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from adapters.llm.openai_compatible import OpenAIChatModel, OpenAIEndpoint
from application.ports.chat_model import ChatModelError
from domain.messages import ChatTurn, Role
from entrypoints.reference_agent import (
    ReferenceAgentConfig,
    RunningReferenceAgent,
    start_reference_agent,
)

KEY = "openai-path-key"
HISTORY = [
    ChatTurn(Role.SYSTEM, "be brief"),
    ChatTurn(Role.USER, "first question"),
    ChatTurn(Role.ASSISTANT, "first answer"),
    ChatTurn(Role.USER, "tell me about “VPNs”"),
]


@pytest.fixture
async def reference() -> AsyncIterator[RunningReferenceAgent]:
    running = await start_reference_agent(
        ReferenceAgentConfig(api_key=KEY, first_event_ms=0, event_delay_ms=1)
    )
    yield running
    await running.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def model(
    http: aiohttp.ClientSession, reference: RunningReferenceAgent, key: str = KEY
) -> OpenAIChatModel:
    return OpenAIChatModel(http, OpenAIEndpoint(reference.url + "/v1", "reference-echo", key))


async def reply(chat: OpenAIChatModel) -> list[str]:
    return [delta async for delta in chat.stream_reply(HISTORY)]


async def test_the_model_streams_a_reply_to_the_last_user_message(
    http: aiohttp.ClientSession, reference: RunningReferenceAgent
) -> None:
    deltas = await reply(model(http, reference))
    assert len(deltas) > 3
    assert "".join(deltas) == "You said: tell me about “VPNs”"
    assert reference.agent.counters.chat_calls == 1


async def test_a_wrong_key_is_a_model_error(
    http: aiohttp.ClientSession, reference: RunningReferenceAgent
) -> None:
    with pytest.raises(ChatModelError, match="HTTP 401"):
        await reply(model(http, reference, key="wrong"))


async def test_an_armed_outage_is_a_model_error(
    http: aiohttp.ClientSession, reference: RunningReferenceAgent
) -> None:
    async with http.post(
        reference.url + "/reference/faults",
        json={"routes": ["chat"], "status": 503},
        headers={"X-API-Key": KEY},
    ) as response:
        assert response.status == 201
    with pytest.raises(ChatModelError, match="HTTP 503"):
        await reply(model(http, reference))
    assert "".join(await reply(model(http, reference))).startswith("You said:")


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"cut_after": 3}, "unreachable"),
        ({"malformed": "bad-json", "malformed_at": 2}, "malformed"),
    ],
)
async def test_a_broken_stream_is_a_model_error(
    http: aiohttp.ClientSession,
    reference: RunningReferenceAgent,
    fault: dict[str, object],
    reason: str,
) -> None:
    async with http.post(
        reference.url + "/reference/faults",
        json={"routes": ["chat"], **fault},
        headers={"X-API-Key": KEY},
    ) as response:
        assert response.status == 201
    with pytest.raises(ChatModelError, match=reason):
        await reply(model(http, reference))


async def test_without_streaming_the_endpoint_answers_one_completion(
    http: aiohttp.ClientSession, reference: RunningReferenceAgent
) -> None:
    payload = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(
        reference.url + "/v1/chat/completions",
        json=payload,
        headers={"Authorization": f"Bearer {KEY}"},
    ) as response:
        completion = await response.json()
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"] == {"role": "assistant", "content": "You said: hi"}


async def test_an_invalid_request_gets_an_openai_shaped_error_naming_the_field(
    http: aiohttp.ClientSession, reference: RunningReferenceAgent
) -> None:
    async with http.post(
        reference.url + "/v1/chat/completions",
        json={"model": "m", "messages": []},
        headers={"Authorization": f"Bearer {KEY}"},
    ) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["type"] == "invalid_request_error" and "messages" in error["message"]
    async with http.get(
        reference.url + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}
    ) as response:
        assert (await response.json())["data"][0]["id"] == "reference-echo"
