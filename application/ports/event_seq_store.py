from collections.abc import Mapping
from typing import Protocol
from uuid import UUID


class EventSeqStore(Protocol):
    """Where `EventSeqs` stores which live event each message last reflects."""

    async def record(self, seqs: Mapping[UUID, int]) -> None:
        """Raise each message's stored `event_seq` to its seq (never lowering one), all or
        nothing, like `MessageRepository.record_event_seqs` in a transaction of its own."""
        ...
