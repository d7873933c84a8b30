"""A streaming reply written by the agent, persisted together with its turn's progress."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from application.agent_sessions import ATTEMPTS
from application.errors import SessionContention
from application.event_seqs import EventSeqs
from application.ports.agent_sessions import StaleAgentSession
from application.ports.clock import Clock
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from application.reply_recorder import FlushPolicy, ReplyRecorder
from domain.agent_events import AgentEvent
from domain.agent_sessions import AgentSession
from domain.messages import Message

SessionChange = Callable[[AgentSession, datetime], None]


class TurnTakenOver(Exception):
    """The session no longer runs this reply's turn: the user ended the session, a newer
    message interrupted the turn, or another instance took the turn over."""


class AgentReplyRecorder(ReplyRecorder):
    """Writes the reply and its turn's progress in one transaction, so that the stored text
    always matches the stored `last_event_id`: a turn resumed after a crash continues from
    there without losing or repeating text. Every write also renews the turn's lease, the
    proof that this process is still consuming the turn.

    The session as last written is kept (from the start, the session as the turn was claimed
    for this reply), so that a write does not read it again: the version check of the save
    tells whether anybody changed it since (every change of a session bumps its version), and
    only then is it read anew, ownership checked again.
    """

    def __init__(
        self,
        reply: Message,
        session: AgentSession,
        uow: UnitOfWorkFactory,
        event_seqs: EventSeqs,
        clock: Clock,
        policy: FlushPolicy,
        lease: timedelta,
    ) -> None:
        super().__init__(reply, uow, event_seqs, clock, policy)
        self.session_id = session.id
        self._lease = lease
        self._renew_s = lease.total_seconds() / 3
        self._last_event_id = 0
        self._agent_session_id: str | None = None
        self._written = session if session.turn_reply_id == reply.id else None

    def saw(self, event: AgentEvent) -> None:
        """An agent event was handled; its id is stored with the next write."""
        self._last_event_id = max(self._last_event_id, event.event_id)
        self._agent_session_id = event.session_id or self._agent_session_id
        self._changed()

    def due(self) -> bool:
        """What is waiting should be written, or the lease wants renewing (a third of it has
        passed since the last write: a quiet turn writes that often and no more)."""
        return super().due() or self.since_write() >= self._renew_s

    def due_at(self) -> float:
        return min(super().due_at(), self._last_flush + self._renew_s)

    async def flush(self) -> None:
        await self.settle(None)

    async def settle(self, change: SessionChange | None) -> AgentSession:
        """Write the reply with the turn's progress; `change` ends or pauses the turn in the
        same transaction (without it the lease is renewed). Raises TurnTakenOver when the
        session no longer runs this reply's turn."""
        for _ in range(ATTEMPTS):
            async with self._uow() as uow:
                session = self._written or await self._owned_session(uow)
                self._written = None
                self._apply(session, change)
                await self._write(uow)
                try:
                    await uow.agent_sessions.save(session)
                    await uow.commit()
                except StaleAgentSession:
                    continue
            self._keep(session)
            self._flushed()
            return session
        raise SessionContention(str(self.session_id))

    def take_progress(
        self, change: SessionChange | None = None
    ) -> tuple[AgentSession, Message] | None:
        """This write's values, taken at one instant for a grouped write (`ReplyWrites`): the
        session as it is to be stored (`change` applied, or its lease renewed) and a snapshot
        of the reply. None when the session must be read first: then `settle` makes the
        write."""
        session, self._written = self._written, None
        if session is None:
            return None
        self._apply(session, change)
        self._capture()
        return session, self.reply.snapshot()

    def progress_written(self, session: AgentSession) -> None:
        """The grouped write of `take_progress`'s values committed."""
        self._keep(session)
        self._flushed()

    def _keep(self, session: AgentSession) -> None:
        if session.is_live and session.turn_reply_id == self.reply.id:
            self._written = session

    async def release(self) -> None:
        """Write the reply alone: its turn belongs to someone else now."""
        await ReplyRecorder.flush(self)

    async def _owned_session(self, uow: UnitOfWork) -> AgentSession:
        session = await uow.agent_sessions.get(self.session_id)
        if session is None or not session.is_live or session.turn_reply_id != self.reply.id:
            raise TurnTakenOver(str(self.session_id))
        return session

    def _apply(self, session: AgentSession, change: SessionChange | None) -> None:
        now = self._clock.now()
        if self._agent_session_id:
            session.bind(self._agent_session_id)
        if self._last_event_id:
            session.record_event(self._last_event_id, now)
        if change is None:
            session.renew_lease(now + self._lease)
        else:
            change(session, now)
