from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from domain.messages import ChatTurn


class ChatModelError(Exception):
    """The model could not produce (the rest of) a reply. The message is safe to log."""


class ChatModel(Protocol):
    def stream_reply(self, history: Sequence[ChatTurn]) -> AsyncIterator[str]:
        """Stream the reply to `history` as text deltas; raises ChatModelError on failure."""
        ...
