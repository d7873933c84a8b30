"""The coalesced writes of every agent reply this process streams, grouped into shared
transactions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from itertools import islice
from typing import NamedTuple
from uuid import UUID

from application.agent_reply_recorder import AgentReplyRecorder, SessionChange
from application.futures import resolve
from application.ports.clock import Clock
from application.ports.reply_progress import ReplyProgress
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.agent_sessions import AgentSession
from domain.messages import Message

log = logging.getLogger(__name__)

_Done = asyncio.Future[None]

ATTEMPTS = 2


class ReplyWrites:
    """Group commit for streaming agent replies.

    A turn whose reply is due for a write asks for it here, and so does a turn that ends (its
    session's change applied in the group); one task writes every reply that asked since the
    previous group began, all or nothing (`ReplyProgress`: one transaction, or one statement
    on PostgreSQL). A reply asking while its
    group is being written is written again in the next group, covering what arrived
    meanwhile. A group gathers for `window_s` before it is written, so there are at most
    1/window_s transactions a second however many replies stream: the groups grow with the
    load instead of queueing. A turn's end cuts the gathering short (its `message.completed`
    waits for the write), so ends add groups only while no group is being written.

    Every write's values are taken at one instant (`AgentReplyRecorder.take_progress`), so a
    stored reply always matches its session's stored `last_event_id`. A reply whose session
    changed since it was last written (or must be read first) is written on its own after the
    group, through its recorder's usual path, which reads the session again. A group is tried
    twice; failing both times, it fails the write of every reply in it.

    Turns that stream are watched: every `sweep_s`, one timer for the whole process calls
    back each watched turn whose reply has fallen due by time (`due_at` on `clock`), so that a
    reply falling due while its agent is quiet is asked for without a timer of its own, armed
    and moved with every event. Replies with nothing waiting are looked at only every
    `quiet_sweep_s` (all they may need is their lease renewed, a third of the lease apart), so
    a sweep costs an attribute check per quiet turn; a failed write calls its turn back at
    once.
    """

    def __init__(
        self,
        progress: ReplyProgress,
        clock: Clock,
        window_s: float = 0.02,
        max_group: int = 500,
        sweep_s: float = 0.02,
        quiet_sweep_s: float = 1.0,
    ) -> None:
        self._progress = progress
        self._clock = clock
        self._window_s = window_s
        self._max_group = max_group
        self._sweep_s = sweep_s
        self._watched: dict[AgentReplyRecorder, Callable[[], None]] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._quiet_sweep_s = quiet_sweep_s
        self._quiet_sweep_at = clock.monotonic()
        self._next: dict[AgentReplyRecorder, _Done] = {}
        self._changes: dict[AgentReplyRecorder, SessionChange] = {}
        self._hurry: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def request(self, recorder: AgentReplyRecorder, change: SessionChange | None = None) -> _Done:
        """Have the reply written by the next group, its session changed by `change` (the
        turn's end) or its lease renewed; the future resolves when it is stored. Await it
        shielded: it is shared."""
        done = self._next.get(recorder)
        if done is None:
            done = self._next[recorder] = asyncio.get_running_loop().create_future()
            if self._task is None:
                self._task = asyncio.ensure_future(self._run())
        if change is not None:
            self._changes[recorder] = change
            if self._hurry is not None:
                resolve(self._hurry)
        return done

    def watch(self, recorder: AgentReplyRecorder, swept: Callable[[], None]) -> None:
        """Call `swept` once a sweep finds the reply fallen due by time, until `unwatch`: the
        turn asks for its write there (or raises the failure of the last one)."""
        self._watched[recorder] = swept
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(self._sweep_s, self._sweep)

    def unwatch(self, recorder: AgentReplyRecorder) -> None:
        self._watched.pop(recorder, None)

    def _sweep(self) -> None:
        self._sweeper = None
        now = self._clock.monotonic()
        everyone = now >= self._quiet_sweep_at
        if everyone:
            self._quiet_sweep_at = now + self._quiet_sweep_s
        due = [
            swept
            for recorder, swept in self._watched.items()
            if (recorder.waiting or everyone) and recorder.due_at() <= now
        ]
        for swept in due:
            try:
                swept()
            except Exception:
                log.exception("a streaming reply's sweep failed")
        if self._watched:
            self._sweeper = asyncio.get_running_loop().call_later(self._sweep_s, self._sweep)

    def withdraw(self, recorder: AgentReplyRecorder) -> None:
        """Drop the reply's write from the next group (its turn writes for itself now)."""
        self.unwatch(recorder)
        self._changes.pop(recorder, None)
        done = self._next.pop(recorder, None)
        if done is not None:
            done.cancel()

    async def _run(self) -> None:
        group: dict[AgentReplyRecorder, _Done] = {}
        try:
            while self._next:
                await self._gather()
                group = dict(islice(self._next.items(), self._max_group))
                changes = {}
                for recorder in group:
                    del self._next[recorder]
                    if recorder in self._changes:
                        changes[recorder] = self._changes.pop(recorder)
                await self._write(group, changes)
        finally:
            self._task = None
            for done in [*group.values(), *self._next.values()]:
                done.cancel()
            self._next.clear()
            self._changes.clear()

    async def _gather(self) -> None:
        """Let requests gather for the window, or until a turn asks for its last write: a
        turn's end is not held back (what asked meanwhile goes with it)."""
        if self._changes:
            return
        self._hurry = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait([self._hurry], timeout=self._window_s)
        finally:
            self._hurry = None

    async def _write(
        self,
        group: dict[AgentReplyRecorder, _Done],
        changes: dict[AgentReplyRecorder, SessionChange],
    ) -> None:
        taken: list[_Taken] = []
        alone: list[tuple[AgentReplyRecorder, _Done]] = []
        for recorder, done in group.items():
            try:
                progress = recorder.take_progress(changes.get(recorder))
            except Exception as error:
                self._fail(recorder, done, error)
                continue
            if progress is None:
                alone.append((recorder, done))
            else:
                taken.append(_Taken(recorder, *progress, done))
        if taken:
            alone += await self._write_together(taken)
        for recorder, done in alone:
            try:
                await recorder.settle(changes.get(recorder))
            except Exception as error:
                self._fail(recorder, done, error)
            else:
                resolve(done)

    async def _write_together(self, taken: list[_Taken]) -> list[tuple[AgentReplyRecorder, _Done]]:
        """Write the taken values in one transaction, tried twice: a single failure (a
        deadlock with another writer, a connection lost mid-statement) must not fail every
        streaming turn at once. What comes back had a stale session."""
        versions = [t.session.version for t in taken]
        for attempt in range(1, ATTEMPTS + 1):
            try:
                stale_ids = await self._progress.save([(t.session, t.reply) for t in taken])
            except Exception as error:
                for t, version in zip(taken, versions, strict=True):
                    t.session.version = version
                log.warning(
                    "a group of %d agent reply writes failed (attempt %d of %d): %r",
                    len(taken),
                    attempt,
                    ATTEMPTS,
                    error,
                )
                failure = error
                continue
            for t in taken:
                if t.session.id not in stale_ids:
                    t.recorder.progress_written(t.session)
                    resolve(t.done)
            return [(t.recorder, t.done) for t in taken if t.session.id in stale_ids]
        for t in taken:
            self._fail(t.recorder, t.done, failure)
        return []

    def _fail(self, recorder: AgentReplyRecorder, done: _Done, error: BaseException) -> None:
        """Fail the write; a watched turn is called back at once to notice it, its agent
        perhaps quiet for long."""
        resolve(done, error)
        swept = self._watched.get(recorder)
        if swept is not None:
            swept()


class ProgressInTransaction(ReplyProgress):
    """`ReplyProgress` through the repositories, in one transaction."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def save(self, progress: Sequence[tuple[AgentSession, Message]]) -> set[UUID]:
        async with self._uow() as uow:
            stale = await uow.agent_sessions.save_progress([session for session, _ in progress])
            stale_ids = {session.id for session in stale}
            saved = [reply for session, reply in progress if session.id not in stale_ids]
            if saved:
                await uow.messages.save_progress(*saved)
            await uow.commit()
        return stale_ids


class _Taken(NamedTuple):
    recorder: AgentReplyRecorder
    session: AgentSession
    reply: Message
    done: _Done
