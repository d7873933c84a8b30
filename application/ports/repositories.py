"""Storage of conversations and messages, shaped by the queries the use cases run."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from domain.agent_sessions import AgentSession
from domain.conversations import Conversation, Owner
from domain.messages import Message


class DuplicateIdempotencyKey(Exception):
    """Another request stored a message with the same idempotency key first."""


@dataclass(frozen=True, slots=True)
class ConversationState:
    """A conversation as a new message meets it: the newest seq its stored messages reflect
    (0 for none), its live agent session with that session's latest question, if any, and
    whether it holds any message at all (a first message has no history to read)."""

    conversation: Conversation
    event_floor: int
    live_session: AgentSession | None
    has_messages: bool


class ConversationRepository(Protocol):
    async def add(self, conversation: Conversation) -> None: ...

    async def get(self, conversation_id: UUID) -> Conversation | None: ...

    async def get_with_event_floor(self, conversation_id: UUID) -> tuple[Conversation, int] | None:
        """The conversation and the newest seq its stored messages reflect (0 for none), in
        one read: what a request that announces new messages needs first."""
        ...

    async def get_state(self, conversation_id: UUID) -> ConversationState | None:
        """`get_with_event_floor` and the live agent session in one read: what storing and
        routing a user's message needs first."""
        ...

    async def list_for(
        self, owner: Owner, limit: int, before: UUID | None
    ) -> Sequence[Conversation]:
        """The owner's conversations, most recently active first, older than `before` if given."""
        ...


class MessageRepository(Protocol):
    async def add(self, message: Message, idempotency_key: str | None = None) -> None:
        """Store a new message; raises DuplicateIdempotencyKey at commit or before."""
        ...

    async def add_with_reply(
        self,
        conversation: Conversation,
        message: Message,
        reply: Message,
        idempotency_key: str | None = None,
    ) -> None:
        """Store a user's new message (under `idempotency_key`) and its reply, and write the
        conversation's `updated_at` (its activity), in one round trip where the database
        allows; raises DuplicateIdempotencyKey at commit or before."""
        ...

    async def get(self, message_id: UUID) -> Message | None: ...

    async def by_idempotency_key(self, conversation_id: UUID, key: str) -> Message | None: ...

    async def reply_to(self, message_id: UUID) -> Message | None:
        """The reply produced for a user message."""
        ...

    async def page(
        self, conversation_id: UUID, limit: int, before: UUID | None
    ) -> Sequence[Message]:
        """Up to `limit` messages older than `before` (or the newest), oldest first."""
        ...

    async def latest(self, conversation_id: UUID, limit: int) -> Sequence[Message]:
        """The newest `limit` complete messages, oldest first: the history given to a model."""
        ...

    async def save_progress(self, *messages: Message) -> None:
        """Write each message's content, status, event_seq and agent metadata (the only fields
        that change); several at once in one round trip where the database allows."""
        ...

    async def record_event_seqs(self, seqs: Mapping[UUID, int]) -> None:
        """Raise each message's event_seq to the given value (never lowers it)."""
        ...

    async def max_event_seq(self, conversation_id: UUID) -> int: ...

    async def changed_since(self, conversation_id: UUID, seq: int) -> Sequence[Message]:
        """Messages whose stored state reflects an event after `seq`, in event order."""
        ...

    async def streaming(self) -> Sequence[Message]:
        """Every reply still marked streaming."""
        ...
