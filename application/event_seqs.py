"""Which live event each message last reflects, stored by group commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from uuid import UUID

from application.futures import resolve
from application.ports.event_seq_store import EventSeqStore
from application.ports.unit_of_work import StorageBusy, UnitOfWorkFactory

log = logging.getLogger(__name__)

_Done = asyncio.Future[None]

BUSY_RETRY_S = 0.05
"""The pause before trying again a write that found the database busy."""


class EventSeqs:
    """Stores `messages.event_seq` for the events announced by every conversation of the
    process: what a client catching up from the database is told a message reflects.

    Each new message and each reply's end is announced, then its seq stored. Asked while no
    write is under way, the write starts one turn of the event loop later; asked while one is,
    the seqs join the next write, which starts when it ends. At low load nothing waits longer;
    under a burst of turns a single write stores the seqs of all of them instead of one each.
    The loop's turn lets the work started with the request that asked (a reply's job, its
    agent request) take its first steps before the write's: the write delays the request's
    answer, not the reply's first chunk.

    A write that finds the database too busy (StorageBusy) releases its waiters all the same
    and its seqs go with the next write, tried again shortly: the messages they number are
    stored already, and failing the request that stored one would have its client send it
    again. Any other failure fails the write's waiters.
    """

    def __init__(self, store: EventSeqStore, busy_retry_s: float = BUSY_RETRY_S) -> None:
        self._store = store
        self._busy_retry_s = busy_retry_s
        self._next: dict[UUID, int] = {}
        self._next_done: _Done | None = None
        self._task: asyncio.Task[None] | None = None

    async def store(self, seqs: Mapping[UUID, int]) -> None:
        """Store the seqs (never lowering one) and return once they are, or are kept for the
        next write because the database was too busy."""
        await self.request(seqs)

    def request(self, seqs: Mapping[UUID, int]) -> asyncio.Future[None]:
        """Have the seqs stored by the next write; the future resolves once they are (or are
        kept for the write after, the database being too busy), or with the write's error.
        Shielded, so that a caller giving up does not cancel the others."""
        loop = asyncio.get_running_loop()
        if not seqs:
            done = loop.create_future()
            done.set_result(None)
            return done
        next_done = self._join_next(seqs)
        if self._task is None:
            self._task = loop.create_task(self._run())
        return asyncio.shield(next_done)

    def _join_next(self, seqs: Mapping[UUID, int]) -> _Done:
        """Add the seqs to the next write (never lowering one); its future."""
        for message_id, seq in seqs.items():
            if seq > self._next.get(message_id, 0):
                self._next[message_id] = seq
        if self._next_done is None:
            self._next_done = asyncio.get_running_loop().create_future()
        return self._next_done

    async def _run(self) -> None:
        try:
            await asyncio.sleep(0)
            while self._next:
                seqs, done = self._next, self._next_done
                self._next, self._next_done = {}, None
                assert done is not None
                try:
                    await self._store.record(seqs)
                except StorageBusy as error:
                    log.warning("%d messages' seqs wait for the next write: %s", len(seqs), error)
                    self._join_next(seqs)
                    resolve(done)
                    await asyncio.sleep(self._busy_retry_s)
                except Exception as error:
                    resolve(done, error)
                else:
                    resolve(done)
        finally:
            self._task = None
            if self._next_done is not None:
                self._next_done.cancel()
                self._next_done = None
            self._next = {}


class SeqsInTransaction(EventSeqStore):
    """`EventSeqStore` through the message repository, in a transaction."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def record(self, seqs: Mapping[UUID, int]) -> None:
        async with self._uow() as tx:
            await tx.messages.record_event_seqs(seqs)
            await tx.commit()
