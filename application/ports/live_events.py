from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol
from uuid import UUID

from application.live import LiveEvent

RESTART_MARGIN = 1000
"""How far numbering jumps when a bus lost a conversation's counter: more than the events a
reply may publish between two writes (FlushPolicy.max_events)."""


class SubscriberLagged(Exception):
    """A subscriber fell further behind than its queue allows and was dropped; it should
    reconnect with the last seq it saw."""


class LiveEvents(Protocol):
    """Fan-out of live events per conversation, with a bounded replay buffer.

    The bus numbers events: `seq` increases by one per event within a conversation.
    """

    async def publish(self, event: LiveEvent) -> LiveEvent:
        """Number the event, keep it for replay, deliver it; returns it with its seq."""
        ...

    async def ensure_seq_at_least(self, conversation_id: UUID, seq: int) -> None:
        """Make the next seq of the conversation greater than `seq`, the newest seq stored.

        A bus that has lost the conversation's counter (a restart of the process or of Redis)
        resumes at `seq` plus RESTART_MARGIN: events published after the last write may have
        reached clients with numbers above `seq`, and a number must never be given twice.
        """
        ...

    async def last_seq(self, conversation_id: UUID) -> int: ...

    async def replay(self, conversation_id: UUID, since: int) -> Sequence[LiveEvent] | None:
        """Every event after `since`, or None when the buffer no longer holds all of them."""
        ...

    async def held_after(self, conversation_id: UUID, since: int) -> Sequence[LiveEvent]:
        """Whatever the buffer still holds after `since`, even when earlier ones are gone."""
        ...

    async def prune(self) -> int:
        """Forget the replay buffers of conversations quiet for longer than the retention and
        watched by nobody; returns how many were forgotten (0 where the store expires them)."""
        ...

    def subscribe(
        self, conversation_id: UUID
    ) -> AbstractAsyncContextManager[AsyncIterator[LiveEvent]]:
        """Receive events published from now on; iteration raises SubscriberLagged when the
        subscriber is too slow."""
        ...
