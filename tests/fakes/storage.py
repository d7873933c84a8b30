from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self
from uuid import UUID

from application.ports.dead_letters import DeadLetter, DeadLetterRepository
from application.ports.repositories import (
    ConversationRepository,
    ConversationState,
    DuplicateIdempotencyKey,
    MessageRepository,
)
from application.ports.unit_of_work import UnitOfWork
from domain.conversations import Conversation, Owner
from domain.messages import Message, MessageStatus
from tests.fakes.delegation import (
    Checks,
    DelegationTables,
    FakeAgentSessionRepository,
    FakeHistoryRepository,
    FakeRoutingOverrideRepository,
    check_commit,
)


@dataclass
class Tables:
    """The committed state every FakeUnitOfWork of one store shares."""

    conversations: dict[UUID, Conversation] = field(default_factory=dict)
    messages: dict[UUID, Message] = field(default_factory=dict)
    idempotency: dict[tuple[UUID, str], UUID] = field(default_factory=dict)
    delegation: DelegationTables = field(default_factory=DelegationTables)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    commits: int = 0


class FakeConversationRepository(ConversationRepository):
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, conversation: Conversation) -> None:
        self._t.conversations[conversation.id] = copy.deepcopy(conversation)

    async def get(self, conversation_id: UUID) -> Conversation | None:
        found = self._t.conversations.get(conversation_id)
        return copy.deepcopy(found) if found else None

    async def get_with_event_floor(self, conversation_id: UUID) -> tuple[Conversation, int] | None:
        found = await self.get(conversation_id)
        if found is None:
            return None
        seqs = [m.event_seq for m in self._t.messages.values() if m.conversation_id == found.id]
        return found, max(seqs, default=0)

    async def get_state(self, conversation_id: UUID) -> ConversationState | None:
        found = await self.get_with_event_floor(conversation_id)
        if found is None:
            return None
        live = (s for s in self._t.delegation.sessions.values() if s.is_live)
        session = next((s for s in live if s.conversation_id == conversation_id), None)
        has_messages = any(m.conversation_id == conversation_id for m in self._t.messages.values())
        return ConversationState(*found, copy.deepcopy(session), has_messages)

    async def list_for(
        self, owner: Owner, limit: int, before: UUID | None
    ) -> Sequence[Conversation]:
        mine = sorted(
            (c for c in self._t.conversations.values() if c.owner == owner),
            key=lambda c: (c.updated_at, c.id),
            reverse=True,
        )
        if before is not None:
            cursor = self._t.conversations.get(before)
            if cursor is None:
                return []
            mine = [c for c in mine if (c.updated_at, c.id) < (cursor.updated_at, cursor.id)]
        return [copy.deepcopy(c) for c in mine[:limit]]


class FakeMessageRepository(MessageRepository):
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def _of(self, conversation_id: UUID) -> list[Message]:
        found = (m for m in self._t.messages.values() if m.conversation_id == conversation_id)
        return sorted(found, key=lambda m: (m.created_at, m.id))

    async def add(self, message: Message, idempotency_key: str | None = None) -> None:
        if idempotency_key is not None:
            key = (message.conversation_id, idempotency_key)
            if key in self._t.idempotency:
                raise DuplicateIdempotencyKey(idempotency_key)
            self._t.idempotency[key] = message.id
        self._t.messages[message.id] = copy.deepcopy(message)

    async def add_with_reply(
        self,
        conversation: Conversation,
        message: Message,
        reply: Message,
        idempotency_key: str | None = None,
    ) -> None:
        await self.add(message, idempotency_key)
        await self.add(reply)
        self._t.conversations[conversation.id].updated_at = conversation.updated_at

    async def get(self, message_id: UUID) -> Message | None:
        found = self._t.messages.get(message_id)
        return copy.deepcopy(found) if found else None

    async def by_idempotency_key(self, conversation_id: UUID, key: str) -> Message | None:
        message_id = self._t.idempotency.get((conversation_id, key))
        return None if message_id is None else await self.get(message_id)

    async def reply_to(self, message_id: UUID) -> Message | None:
        found = next((m for m in self._t.messages.values() if m.reply_to == message_id), None)
        return copy.deepcopy(found) if found else None

    async def page(
        self, conversation_id: UUID, limit: int, before: UUID | None
    ) -> Sequence[Message]:
        messages = self._of(conversation_id)
        if before is not None:
            cursor = self._t.messages.get(before)
            if cursor is None or cursor.conversation_id != conversation_id:
                return []
            messages = [
                m for m in messages if (m.created_at, m.id) < (cursor.created_at, cursor.id)
            ]
        return [copy.deepcopy(m) for m in messages[-limit:]] if limit else []

    async def latest(self, conversation_id: UUID, limit: int) -> Sequence[Message]:
        complete = [m for m in self._of(conversation_id) if m.status is MessageStatus.COMPLETE]
        return [copy.deepcopy(m) for m in complete[-limit:]] if limit else []

    async def save_progress(self, *messages: Message) -> None:
        for message in messages:
            stored = self._t.messages[message.id]
            stored.content = message.content
            stored.status = message.status
            stored.event_seq = max(stored.event_seq, message.event_seq)
            stored.agent = copy.deepcopy(message.agent)

    async def record_event_seqs(self, seqs: Mapping[UUID, int]) -> None:
        for message_id, seq in seqs.items():
            stored = self._t.messages.get(message_id)
            if stored is not None:
                stored.event_seq = max(stored.event_seq, seq)

    async def max_event_seq(self, conversation_id: UUID) -> int:
        return max((m.event_seq for m in self._of(conversation_id)), default=0)

    async def changed_since(self, conversation_id: UUID, seq: int) -> Sequence[Message]:
        changed = [m for m in self._of(conversation_id) if m.event_seq > seq]
        return [copy.deepcopy(m) for m in sorted(changed, key=lambda m: m.event_seq)]

    async def streaming(self) -> Sequence[Message]:
        return [copy.deepcopy(m) for m in self._t.messages.values() if m.is_streaming]


class FakeDeadLetterRepository(DeadLetterRepository):
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def add(self, letter: DeadLetter) -> None:
        self._t.dead_letters.append(letter)

    async def recent(self, limit: int) -> Sequence[DeadLetter]:
        newest = sorted(self._t.dead_letters, key=lambda d: (d.created_at, d.id), reverse=True)
        return newest[:limit]


class FakeUnitOfWork(UnitOfWork):
    """Works on a private copy of the tables; `commit` publishes the copy."""

    def __init__(self, tables: Tables) -> None:
        self._shared = tables

    async def __aenter__(self) -> Self:
        self._working = copy.deepcopy(self._shared)
        self._committed = False
        self._repositories()
        return self

    def _repositories(self) -> None:
        self._checks = Checks()
        self.conversations = FakeConversationRepository(self._working)
        self.messages = FakeMessageRepository(self._working)
        delegation = self._working.delegation
        self.agent_sessions = FakeAgentSessionRepository(delegation, self._checks)
        self.routing_overrides = FakeRoutingOverrideRepository(delegation)
        self.history = FakeHistoryRepository(self._working.messages, delegation)
        self.dead_letters = FakeDeadLetterRepository(self._working)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._working = Tables()

    async def commit(self) -> None:
        for key, message_id in self._working.idempotency.items():
            if self._shared.idempotency.get(key, message_id) != message_id:
                raise DuplicateIdempotencyKey(key[1])
        check_commit(self._shared.delegation, self._working.delegation, self._checks)
        self._shared.conversations = self._working.conversations
        self._shared.messages = self._working.messages
        self._shared.idempotency = self._working.idempotency
        self._shared.delegation = self._working.delegation
        self._shared.dead_letters = self._working.dead_letters
        self._shared.commits += 1
        self._working = copy.deepcopy(self._shared)
        self._repositories()


class FakeStore:
    """A fake database: `store.uow` is a UnitOfWorkFactory over shared committed state."""

    def __init__(self) -> None:
        self.tables = Tables()

    def uow(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.tables)
