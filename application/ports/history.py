"""What history windowing needs: stored messages with cached token counts, a tokenizer and a
summarizer."""

from collections.abc import Mapping, Sequence
from typing import Protocol
from uuid import UUID

from domain.messages import ChatTurn, Message


class HistoryRepository(Protocol):
    async def recent(
        self, conversation_id: UUID, limit: int, encoding: str
    ) -> Sequence[tuple[Message, int | None]]:
        """The newest `limit` complete messages, oldest first, each with its token count in
        `encoding` when one was remembered (None otherwise)."""
        ...

    async def remember_token_counts(self, encoding: str, counts: Mapping[UUID, int]) -> None:
        """Keep each message's token count in `encoding` with the message."""
        ...


class TokenCounter(Protocol):
    """A tokenizer, offline and deterministic. `encoding` names the vocabulary."""

    encoding: str

    def count(self, text: str) -> int: ...

    def truncate(self, text: str, max_tokens: int) -> str:
        """A prefix of `text` that counts at most `max_tokens` tokens."""
        ...


class SummarizerError(Exception):
    """No summary could be made; windowing then falls back to dropping. Safe to log."""


class Summarizer(Protocol):
    async def summarize(self, turns: Sequence[ChatTurn], max_tokens: int) -> str:
        """A summary of `turns` meant to fit in `max_tokens` (the window checks it)."""
        ...
