"""Group commit of streaming agent replies: many replies in one transaction, each stored reply
matching its session's stored `last_event_id`, and a reply whose session changed written on
its own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from application.agent_reply_recorder import AgentReplyRecorder, TurnTakenOver
from application.event_seqs import EventSeqs, SeqsInTransaction
from application.reply_recorder import FlushPolicy
from application.reply_writes import ProgressInTransaction, ReplyWrites
from domain.agent_events import AnswerChunk
from domain.agent_sessions import AgentSession
from domain.conversations import Conversation, Owner
from domain.messages import Message, MessageStatus
from tests.fakes.storage import FakeMessageRepository, FakeStore
from tests.fakes.system import FakeClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)
LEASE = timedelta(seconds=30)


async def streaming_turn(
    store: FakeStore, n: int, clock: FakeClock | None = None
) -> AgentReplyRecorder:
    """A stored conversation whose live session runs a turn writing a streaming reply."""
    conversation = Conversation.start(UUID(int=n), Owner("acme", "alice"), f"c{n}", T0)
    question = Message.from_user(UUID(int=100 + n), conversation.id, "search", T0)
    reply = Message.pending_reply(UUID(int=200 + n), conversation.id, question.id, T0, True)
    session = AgentSession.open(UUID(int=300 + n), conversation.id, "default", T0)
    session.assign_turn(reply.id, T0 + LEASE)
    async with store.uow() as tx:
        await tx.conversations.add(conversation)
        await tx.messages.add(question)
        await tx.messages.add(reply)
        await tx.agent_sessions.add(session)
        await tx.commit()
    clock = clock or FakeClock(T0)
    return AgentReplyRecorder(
        reply,
        session,
        store.uow,
        EventSeqs(SeqsInTransaction(store.uow)),
        clock,
        FlushPolicy(),
        LEASE,
    )


def writes_to(store: FakeStore, clock: FakeClock | None = None, **options: Any) -> ReplyWrites:
    return ReplyWrites(ProgressInTransaction(store.uow), clock or FakeClock(T0), **options)


def receive(recorder: AgentReplyRecorder, event_id: int, text: str) -> None:
    recorder.saw(AnswerChunk(event_id=event_id, session_id="agent-1", text=text))
    recorder.append(text, seq=event_id)


async def written(writes: ReplyWrites, *recorders: AgentReplyRecorder) -> list[object]:
    return await asyncio.gather(
        *(asyncio.shield(writes.request(r)) for r in recorders), return_exceptions=True
    )


async def stored(store: FakeStore, recorder: AgentReplyRecorder) -> tuple[str, int]:
    async with store.uow() as tx:
        reply = await tx.messages.get(recorder.reply.id)
        session = await tx.agent_sessions.get(recorder.session_id)
    assert reply is not None and session is not None
    return reply.content, session.last_event_id


async def test_replies_due_together_are_written_in_one_transaction() -> None:
    store = FakeStore()
    recorders = [await streaming_turn(store, n) for n in (1, 2, 3)]
    for n, recorder in enumerate(recorders, start=1):
        receive(recorder, n, f"text {n}")
    commits = store.tables.commits

    assert await written(writes_to(store, window_s=0), *recorders) == [None] * 3

    assert store.tables.commits - commits == 1
    for n, recorder in enumerate(recorders, start=1):
        assert await stored(store, recorder) == (f"text {n}", n)
        assert not recorder.due()


def end_turn(session: AgentSession, now: datetime) -> None:
    session.end_turn(now)


async def test_a_turn_s_end_is_written_in_the_group_of_the_other_writes() -> None:
    store = FakeStore()
    streaming, ending = [await streaming_turn(store, n) for n in (1, 2)]
    for n, recorder in enumerate((streaming, ending), start=1):
        receive(recorder, n, f"text {n}")
    ending.reply.complete()
    writes, commits = writes_to(store, window_s=0), store.tables.commits

    done = await asyncio.gather(
        asyncio.shield(writes.request(streaming)), asyncio.shield(writes.request(ending, end_turn))
    )

    assert done == [None, None] and store.tables.commits - commits == 1
    async with store.uow() as tx:
        still, ended = [await tx.agent_sessions.get(r.session_id) for r in (streaming, ending)]
        reply = await tx.messages.get(ending.reply.id)
    assert still is not None and still.turn_running
    assert ended is not None and not ended.turn_running and ended.last_event_id == 2
    assert reply is not None and (reply.content, reply.status) == ("text 2", MessageStatus.COMPLETE)


async def test_a_turn_ending_after_its_session_changed_ends_alone_or_is_told() -> None:
    store = FakeStore()
    renewed, taken = [await streaming_turn(store, n) for n in (1, 2)]
    async with store.uow() as tx:
        other = await tx.agent_sessions.get(renewed.session_id)
        by_user = await tx.agent_sessions.get(taken.session_id)
        assert other is not None and by_user is not None
        other.renew_lease(T0 + 2 * LEASE)
        by_user.complete(T0)
        await tx.agent_sessions.save(other)
        await tx.agent_sessions.save(by_user)
        await tx.commit()
    writes = writes_to(store, window_s=0)

    results = await asyncio.gather(
        asyncio.shield(writes.request(renewed, end_turn)),
        asyncio.shield(writes.request(taken, end_turn)),
        return_exceptions=True,
    )

    assert results[0] is None and isinstance(results[1], TurnTakenOver)
    async with store.uow() as tx:
        ended = await tx.agent_sessions.get(renewed.session_id)
    assert ended is not None and not ended.turn_running  # read again, then ended


async def test_a_reply_whose_session_changed_is_written_alone_after_reading_it_again() -> None:
    store = FakeStore()
    kept, renewed, ended = [await streaming_turn(store, n) for n in (1, 2, 3)]
    async with store.uow() as tx:
        other = await tx.agent_sessions.get(renewed.session_id)
        assert other is not None
        other.renew_lease(T0 + 2 * LEASE)
        await tx.agent_sessions.save(other)
        by_user = await tx.agent_sessions.get(ended.session_id)
        assert by_user is not None
        by_user.complete(T0)
        await tx.agent_sessions.save(by_user)
        await tx.commit()
    for n, recorder in enumerate((kept, renewed, ended), start=1):
        receive(recorder, n, f"text {n}")

    results = await written(writes_to(store, window_s=0), kept, renewed, ended)

    assert results[:2] == [None, None] and isinstance(results[2], TurnTakenOver)
    assert await stored(store, kept) == ("text 1", 1)
    assert await stored(store, renewed) == ("text 2", 2)
    assert await stored(store, ended) == ("", 0)


async def test_a_group_failing_twice_fails_the_write_of_every_reply_in_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(self: FakeMessageRepository, *messages: Message) -> None:
        raise ConnectionResetError("database went away")

    store, clock = FakeStore(), FakeClock(T0)
    recorders = [await streaming_turn(store, n, clock) for n in (1, 2)]
    for recorder in recorders:
        receive(recorder, 1, "text")
    monkeypatch.setattr(FakeMessageRepository, "save_progress", broken)

    results = await written(writes_to(store, window_s=0), *recorders)

    assert all(isinstance(result, ConnectionResetError) for result in results)
    monkeypatch.undo()
    assert [await stored(store, r) for r in recorders] == [("", 0), ("", 0)]
    clock.advance(FlushPolicy().interval_s)
    assert all(recorder.due() for recorder in recorders)  # still waiting to be written


async def test_a_group_failing_once_is_written_on_its_second_try(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    save_progress, failures = FakeMessageRepository.save_progress, []

    async def failing_once(self: FakeMessageRepository, *messages: Message) -> None:
        if not failures:
            failures.append(messages)
            raise ConnectionResetError("connection lost mid-statement")
        await save_progress(self, *messages)

    store = FakeStore()
    recorders = [await streaming_turn(store, n) for n in (1, 2)]
    for n, recorder in enumerate(recorders, start=1):
        receive(recorder, n, f"text {n}")
    monkeypatch.setattr(FakeMessageRepository, "save_progress", failing_once)
    commits = store.tables.commits

    assert await written(writes_to(store, window_s=0), *recorders) == [None, None]

    assert len(failures) == 1 and store.tables.commits - commits == 1
    assert [await stored(store, r) for r in recorders] == [("text 1", 1), ("text 2", 2)]
    assert not any(recorder.due() for recorder in recorders)


async def test_a_reply_asking_while_its_group_is_written_is_written_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entered, gate = asyncio.Event(), asyncio.Event()
    save = FakeMessageRepository.save_progress

    async def held(self: FakeMessageRepository, *messages: Message) -> None:
        entered.set()
        await gate.wait()
        await save(self, *messages)

    monkeypatch.setattr(FakeMessageRepository, "save_progress", held)
    store = FakeStore()
    recorder = await streaming_turn(store, 1)
    writes = writes_to(store, window_s=0)
    receive(recorder, 1, "one ")
    first = writes.request(recorder)
    assert writes.request(recorder) is first  # not yet taken: the same write
    await entered.wait()

    receive(recorder, 2, "two ")
    second = writes.request(recorder)
    assert second is not first
    gate.set()
    await asyncio.gather(first, second)

    assert await stored(store, recorder) == ("one two ", 2)


async def test_a_withdrawn_reply_is_left_out_of_its_group() -> None:
    store = FakeStore()
    recorder = await streaming_turn(store, 1)
    writes = writes_to(store, window_s=0.01)
    receive(recorder, 1, "text")
    done = writes.request(recorder)

    writes.withdraw(recorder)
    await asyncio.sleep(0.05)

    assert done.cancelled()
    assert await stored(store, recorder) == ("", 0)


async def test_a_reply_that_cannot_be_taken_fails_alone() -> None:
    store = FakeStore()
    broken, kept = [await streaming_turn(store, n) for n in (1, 2)]
    for recorder in (broken, kept):
        receive(recorder, 1, "text")

    def refuse(change: object = None) -> None:
        raise RuntimeError("cannot take")

    broken.take_progress = refuse  # type: ignore[method-assign,assignment]

    results = await written(writes_to(store, window_s=0), broken, kept)

    assert isinstance(results[0], RuntimeError) and results[1] is None
    assert await stored(store, kept) == ("text", 1)


async def test_watched_turns_are_called_back_by_every_sweep_once_due_until_unwatched() -> None:
    store, clock = FakeStore(), FakeClock(T0)
    first, second, quiet = [await streaming_turn(store, n, clock) for n in (1, 2, 3)]
    writes = writes_to(store, clock, sweep_s=0.002, quiet_sweep_s=0)
    swept: list[int] = []
    for n, recorder in enumerate((first, second, quiet), start=1):
        writes.watch(recorder, lambda n=n: swept.append(n))
    receive(first, 1, "text")
    receive(second, 1, "text")
    await asyncio.sleep(0.03)
    assert swept == []  # text waiting, its interval not passed yet

    clock.advance(FlushPolicy().interval_s)
    await asyncio.sleep(0.03)
    assert swept.count(1) >= 2 and swept.count(2) >= 2
    assert 3 not in swept  # nothing waiting, its lease far from renewal

    writes.unwatch(first)
    writes.withdraw(second)
    clock.advance(LEASE.total_seconds())
    swept.clear()
    await asyncio.sleep(0.03)
    assert set(swept) == {3}  # a third of its lease passed: due for renewal
    writes.unwatch(quiet)


async def test_a_turn_whose_sweep_breaks_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, clock = FakeStore(), FakeClock(T0)
    broken, kept = [await streaming_turn(store, n, clock) for n in (1, 2)]
    writes = writes_to(store, clock, sweep_s=0.002, quiet_sweep_s=0)
    swept: list[int] = []

    def breaks() -> None:
        raise RuntimeError("broken")

    writes.watch(broken, breaks)
    writes.watch(kept, lambda: swept.append(2))
    clock.advance(LEASE.total_seconds())
    await asyncio.sleep(0.03)

    assert len(swept) >= 2
    assert "sweep failed" in caplog.text
    writes.unwatch(broken)
    writes.unwatch(kept)


async def test_replies_with_nothing_waiting_are_looked_at_only_every_quiet_sweep() -> None:
    store, clock = FakeStore(), FakeClock(T0)
    quiet = await streaming_turn(store, 1, clock)
    writes = writes_to(store, clock, sweep_s=0.002, quiet_sweep_s=60)
    swept: list[int] = []
    clock.advance(LEASE.total_seconds())  # past a third of the lease: due for renewal
    writes.watch(quiet, lambda: swept.append(1))

    await asyncio.sleep(0.03)
    assert swept == [1]  # fifteen sweeps, one of them looking at replies with nothing waiting

    clock.advance(60)
    await asyncio.sleep(0.03)
    assert swept == [1, 1]
    writes.unwatch(quiet)
