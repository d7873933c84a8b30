import asyncio
from collections.abc import Mapping
from uuid import UUID

import pytest

from application.event_seqs import EventSeqs
from application.ports.event_seq_store import EventSeqStore
from application.ports.unit_of_work import StorageBusy

A, B, C = UUID(int=1), UUID(int=2), UUID(int=3)


class GatedStore(EventSeqStore):
    """Records each write's seqs; a write waits at the gate while it is closed."""

    def __init__(self) -> None:
        self.batches: list[dict[UUID, int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.failure: Exception | None = None
        self.writing = asyncio.Event()

    async def record(self, seqs: Mapping[UUID, int]) -> None:
        self.writing.set()
        await self.gate.wait()
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure
        self.batches.append(dict(seqs))


async def test_seqs_asked_for_while_a_write_is_under_way_share_the_next_write() -> None:
    store = GatedStore()
    seqs = EventSeqs(store)
    store.gate.clear()
    first = seqs.request({A: 1})
    await store.writing.wait()
    later = [seqs.request({B: 2}), seqs.request({C: 3})]
    store.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *later), 1)
    assert store.batches == [{A: 1}, {B: 2, C: 3}]


async def test_a_write_starts_after_the_work_already_scheduled_takes_a_step() -> None:
    """A reply's job started with the request that asks for the write goes first."""
    store = GatedStore()
    seqs = EventSeqs(store)
    order: list[str] = []

    async def job() -> None:
        order.append("job")
        await asyncio.sleep(0)  # as a job's reader task starts, after the job's first step
        order.append("reader, the write not made" if not store.batches else "reader, too late")

    started = asyncio.ensure_future(job())
    await seqs.request({A: 1})
    order.append("written")
    await started
    assert order == ["job", "reader, the write not made", "written"]


async def test_a_message_asked_for_twice_before_its_write_keeps_its_highest_seq() -> None:
    store = GatedStore()
    seqs = EventSeqs(store)
    await asyncio.gather(seqs.request({A: 5}), seqs.request({A: 3, B: 1}))
    assert store.batches == [{A: 5, B: 1}]


async def test_a_failed_write_fails_those_waiting_for_it_and_not_the_next() -> None:
    store = GatedStore()
    seqs = EventSeqs(store)
    store.failure = ConnectionError("database gone")
    with pytest.raises(ConnectionError):
        await seqs.store({A: 1})
    await seqs.store({B: 2})
    assert store.batches == [{B: 2}]


async def test_a_caller_giving_up_does_not_stop_the_write() -> None:
    store = GatedStore()
    seqs = EventSeqs(store)
    store.gate.clear()
    impatient = asyncio.ensure_future(seqs.store({A: 1}))
    patient = seqs.request({A: 1})
    await asyncio.sleep(0)
    impatient.cancel()
    store.gate.set()
    await asyncio.wait_for(patient, 1)
    assert store.batches == [{A: 1}]


async def test_nothing_to_store_is_done_at_once() -> None:
    store = GatedStore()
    done = EventSeqs(store).request({})
    assert done.done()
    assert store.batches == []


async def test_a_write_finding_the_database_busy_releases_its_waiters_and_goes_with_the_next() -> (
    None
):
    """The messages are stored already: their requests must not fail, and their seqs must
    still be stored."""
    store = GatedStore()
    seqs = EventSeqs(store, busy_retry_s=0)
    store.gate.clear()
    store.failure = StorageBusy("the database's write lock did not come free in time")
    first = seqs.request({A: 1, B: 4})
    await asyncio.sleep(0)
    later = seqs.request({B: 2, C: 3})
    store.gate.set()
    await asyncio.wait_for(asyncio.gather(first, later), 1)
    assert store.batches == [{A: 1, B: 4, C: 3}]
