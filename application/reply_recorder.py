"""Coalesced persistence of a streaming reply."""

from __future__ import annotations

import math
from dataclasses import dataclass

from application.event_seqs import EventSeqs
from application.live import message_finished
from application.ports.clock import Clock
from application.ports.live_events import RESTART_MARGIN, LiveEvents
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from domain.messages import Message


@dataclass(frozen=True, slots=True)
class FlushPolicy:
    """Write the reply when this much time has passed, this much text is waiting, or this many
    events were published since the last write. The last bound keeps what a crash can leave
    unwritten below the numbering margin of a restart (RESTART_MARGIN)."""

    interval_s: float = 0.25
    max_chars: int = 4096
    max_events: int = 200

    def __post_init__(self) -> None:
        if not 0 < self.max_events < RESTART_MARGIN:
            raise ValueError(f"max_events must be between 1 and {RESTART_MARGIN - 1}")


class ReplyRecorder:
    """Keeps the stored state of a streaming reply close behind what clients have seen.

    Every delta is published before it is recorded here, so the stored content is always a
    prefix of what clients received and, once `finish` returns, exactly all of it. Each write
    is its own short transaction: none is held open across the stream. Deltas may keep coming
    while a write is under way: what a write did not capture stays pending.
    """

    def __init__(
        self,
        reply: Message,
        uow: UnitOfWorkFactory,
        event_seqs: EventSeqs,
        clock: Clock,
        policy: FlushPolicy,
    ) -> None:
        self.reply = reply
        self._uow = uow
        self._event_seqs = event_seqs
        self._clock = clock
        self._policy = policy
        self._pending_chars = 0
        self._pending_events = 0
        self._changes = 0
        self._captured = (0, 0, 0)
        self.waiting = False
        """Something the reply's last write did not hold is waiting to be written."""
        self._last_flush = clock.monotonic()

    def append(self, delta: str, seq: int) -> None:
        self.reply.append(delta)
        self._pending_chars += len(delta)
        self.note(seq)

    def note(self, seq: int) -> None:
        """Remember that an event with this seq was published for the reply."""
        self.reply.event_seq = max(self.reply.event_seq, seq)
        self._pending_events += 1
        self._changed()

    def _changed(self) -> None:
        self._changes += 1
        self.waiting = True

    def due(self) -> bool:
        waited = self.since_write()
        return (
            self._pending_chars >= self._policy.max_chars
            or self._pending_events >= self._policy.max_events
            or (self.waiting and waited >= self._policy.interval_s)
        )

    def due_at(self) -> float:
        """When, on the clock's monotonic time, what is waiting falls due by the interval (never
        when nothing is); the other bounds are checked by `due` as events come."""
        return self._last_flush + self._policy.interval_s if self.waiting else math.inf

    def since_write(self) -> float:
        """Seconds since the last write took its values."""
        return self._clock.monotonic() - self._last_flush

    async def flush(self) -> None:
        async with self._uow() as uow:
            await self._write(uow)
            await uow.commit()
        self._flushed()

    async def _write(self, uow: UnitOfWork) -> None:
        self._capture()
        await uow.messages.save_progress(self.reply)

    def _capture(self) -> None:
        """What the write about to be made holds (see `_flushed`). The interval between writes
        runs from here: a write still under way when the next falls due is not asked for
        twice."""
        self._captured = (self._pending_chars, self._pending_events, self._changes)
        self._last_flush = self._clock.monotonic()

    def _flushed(self) -> None:
        """The write committed: what it captured is no longer pending."""
        chars, events, changes = self._captured
        self._pending_chars -= chars
        self._pending_events -= events
        self._captured = (0, 0, self._changes)
        self.waiting = self._changes != changes

    async def finish(self, live: LiveEvents, reason: str | None = None) -> None:
        """Store the final state (the reply must be complete or failed), then announce it."""
        await self.flush()
        await self.announce_end(live, reason)

    async def announce_end(self, live: LiveEvents, reason: str | None = None) -> None:
        event = await live.publish(message_finished(self.reply, reason))
        self.note(event.seq)
        await self._event_seqs.store({self.reply.id: event.seq})
        self.waiting = False
