"""History summaries written by a model behind an OpenAI-compatible API."""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp
import msgspec

from adapters.llm.openai_compatible import OpenAIEndpoint
from application.ports.history import Summarizer, SummarizerError, TokenCounter
from domain.messages import ChatTurn

INSTRUCTIONS = (
    "Summarize the conversation below for an assistant that will continue it. Keep names, "
    "numbers, decisions and open questions. Answer with the summary only."
)


class _Message(msgspec.Struct):
    content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message = msgspec.field(default_factory=_Message)


class _Completion(msgspec.Struct):
    choices: list[_Choice] = msgspec.field(default_factory=list)


_decode = msgspec.json.Decoder(_Completion).decode


class OpenAISummarizer(Summarizer):
    """Calls `POST {base_url}/chat/completions` (not streamed) with `max_tokens`, then cuts
    the answer to `max_tokens` by our own tokenizer, since the model's may count differently.
    Any failure is a SummarizerError naming the status, never the key."""

    def __init__(
        self, session: aiohttp.ClientSession, endpoint: OpenAIEndpoint, counter: TokenCounter
    ) -> None:
        self._session = session
        self._endpoint = endpoint
        self._counter = counter

    def __repr__(self) -> str:
        return f"OpenAISummarizer(base_url={self._endpoint.base_url!r})"

    async def summarize(self, turns: Sequence[ChatTurn], max_tokens: int) -> str:
        transcript = "\n".join(f"{turn.role.value}: {turn.content}" for turn in turns)
        body = {
            "model": self._endpoint.model,
            "stream": False,
            "max_tokens": max_tokens,
            "messages": [
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": transcript},
            ],
        }
        text = await self._complete(body)
        return self._counter.truncate(text.strip(), max_tokens)

    async def _complete(self, body: dict[str, object]) -> str:
        endpoint = self._endpoint
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        timeout = aiohttp.ClientTimeout(
            total=endpoint.total_timeout_s,
            sock_connect=endpoint.connect_timeout_s,
            sock_read=endpoint.idle_timeout_s,
        )
        url = endpoint.base_url.rstrip("/") + "/chat/completions"
        try:
            async with self._session.post(url, json=body, headers=headers, timeout=timeout) as r:
                if r.status != 200:
                    raise SummarizerError(f"summary endpoint answered HTTP {r.status}")
                completion = _decode(await r.read())
        except TimeoutError as error:
            raise SummarizerError("summary endpoint timed out") from error
        except aiohttp.ClientError as error:
            raise SummarizerError(
                f"summary endpoint unreachable: {type(error).__name__}"
            ) from error
        except msgspec.DecodeError as error:
            raise SummarizerError("summary endpoint sent a malformed completion") from error
        if not completion.choices or not completion.choices[0].message.content:
            raise SummarizerError("summary endpoint sent no summary")
        return completion.choices[0].message.content
