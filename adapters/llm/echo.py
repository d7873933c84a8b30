import asyncio
import re
from collections.abc import AsyncIterator, Sequence

from application.ports.chat_model import ChatModel
from domain.messages import ChatTurn, Role

_TOKEN = re.compile(r"\s*\S+|\s+")


def echo_tokens(text: str) -> list[str]:
    """Split text into word-sized tokens, each carrying the whitespace before it, so that the
    tokens concatenate back to exactly `text`."""
    return _TOKEN.findall(text)


class EchoChatModel(ChatModel):
    """The embedded default: deterministic, offline, answers with the last user message.

    Streams "Echo: <message>" one word at a time with `delay_s` between tokens, so the live
    channels can be seen working without any model behind them.
    """

    def __init__(self, delay_s: float = 0.02) -> None:
        self._delay_s = delay_s

    async def stream_reply(self, history: Sequence[ChatTurn]) -> AsyncIterator[str]:
        last = next((t.content for t in reversed(history) if t.role is Role.USER), "")
        for index, token in enumerate(echo_tokens(f"Echo: {last}")):
            if index and self._delay_s:
                await asyncio.sleep(self._delay_s)
            yield token
