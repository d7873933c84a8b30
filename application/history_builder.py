"""The history given to the agent: stored messages, their cached token counts, the window."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from application.ports.history import Summarizer, SummarizerError, TokenCounter
from application.ports.unit_of_work import UnitOfWork
from domain.history import (
    SUMMARY_PREFIX,
    HistoryItem,
    Strategy,
    TextMeasure,
    Window,
    WindowPolicy,
    attach_summary,
    select_window,
)
from domain.messages import ChatTurn, Message, Role

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AgentHistory:
    """The newest user message as the agent's input, and the window before it; `counted`
    holds the token counts `build` had to compute, for `remember`."""

    input: str
    chat_history: tuple[ChatTurn, ...]
    window: Window
    counted: Mapping[UUID, int]


@dataclass(frozen=True, slots=True)
class StoredHistory:
    """The newest stored messages, oldest first, and the token counts known for them."""

    messages: Sequence[Message]
    tokens: Mapping[UUID, int]


COUNT_IN_TRANSACTION_CHARS = 50_000


class HistoryBuilder:
    """Builds the agent's view of a conversation.

    Rules:
    - at most `scan_messages` newest complete messages are read; roles map one to one
      (user, assistant, system);
    - each message's token count is computed once and remembered with the message, in the
      transaction that reads it, newest first, up to `count_chars` characters of text a read
      (at least one message); a turn starts inside that transaction, which on SQLite holds the
      write lock, so what is left (a long conversation's first agent turn) is counted outside
      it by `build` and kept by `remember` in a transaction of its own;
    - the message being sent is the input: its text is replaced by `input` (the router strips
      its command prefix) and it is always kept, truncated only if it alone exceeds the budget;
      its own count waits for the next turn (counted with the reply it got: a first turn
      remembers nothing); messages stored after it are left for their own turns;
    - with the summary strategy, what falls out of the window is summarized; a summarizer
      failure or a summary too long falls back to dropping.
    """

    def __init__(
        self,
        counter: TokenCounter,
        summarizer: Summarizer,
        policy: WindowPolicy,
        scan_messages: int,
        count_chars: int = COUNT_IN_TRANSACTION_CHARS,
    ) -> None:
        self._counter = counter
        self._summarizer = summarizer
        self._policy = policy
        self._scan = scan_messages
        self._count_chars = count_chars
        self._measure = TextMeasure(counter.count, counter.truncate)

    async def read(self, uow: UnitOfWork, conversation_id: UUID, answering: UUID) -> StoredHistory:
        """The newest stored messages with their token counts, in the caller's transaction
        (where missing counts are computed and remembered, within `count_chars`). The message
        `answering` is left uncounted: this turn counts its input instead, and the next turn,
        which has it in its history, counts and remembers it with the reply."""
        encoding = self._counter.encoding
        stored = await uow.history.recent(conversation_id, self._scan, encoding)
        tokens = {m.id: count for m, count in stored if count is not None}
        counted, room = {}, self._count_chars
        for message, count in reversed(stored):
            if count is not None or message.id == answering:
                continue
            if not counted or len(message.content) <= room:
                room -= len(message.content)
                counted[message.id] = self._counter.count(message.content)
        if counted:
            await uow.history.remember_token_counts(encoding, counted)
        return StoredHistory([m for m, _ in stored], tokens | counted)

    async def build(self, stored: StoredHistory, message_id: UUID, input: str) -> AgentHistory:
        """The history up to the message being answered, from what `read` returned: messages
        sent after it (queued behind a running turn) belong to later turns. Outside any
        transaction, since a summary asks a model."""
        messages = stored.messages
        position = next((i for i, m in enumerate(messages) if m.id == message_id), None)
        counted: dict[UUID, int] = {}
        items = [self._item(m, stored.tokens, counted) for m in messages[:position]]
        answered = None if position is None else messages[position]
        items.append(self._as_input(answered, input, message_id))
        window = await self.window(items)
        [sent] = [item for item in window.items if item.key == message_id]
        before = tuple(ChatTurn(i.role, i.content) for i in window.items if i.key != message_id)
        return AgentHistory(sent.content, before, window, counted)

    async def remember(self, uow: UnitOfWork, counted: Mapping[UUID, int]) -> None:
        """Keep the counts `build` computed, in the caller's transaction."""
        await uow.history.remember_token_counts(self._counter.encoding, counted)

    async def window(self, items: Sequence[HistoryItem]) -> Window:
        window = select_window(items, self._policy, self._measure)
        if self._policy.strategy is not Strategy.SUMMARY or not window.dropped:
            return window
        turns = [ChatTurn(item.role, item.content) for item in window.dropped]
        room = self._policy.summary_tokens - self._counter.count(SUMMARY_PREFIX)
        if room < 1:
            return window
        try:
            text = await self._summarizer.summarize(turns, room)
        except SummarizerError as error:
            log.warning("history summary failed, dropping instead: %s", error)
            return window
        return attach_summary(window, text, self._policy, self._measure)

    def _item(
        self, message: Message, known: Mapping[UUID, int], counted: dict[UUID, int]
    ) -> HistoryItem:
        tokens = known.get(message.id)
        if tokens is None:
            tokens = counted[message.id] = self._counter.count(message.content)
        return HistoryItem(
            key=message.id, role=message.role, content=message.content, tokens=tokens
        )

    def _as_input(self, message: Message | None, input: str, key: UUID) -> HistoryItem:
        """The message being answered, its text replaced by `input` and counted as such."""
        role = Role.USER if message is None else message.role
        return HistoryItem(key=key, role=role, content=input, tokens=self._counter.count(input))
