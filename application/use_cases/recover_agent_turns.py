from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from contextlib import suppress
from datetime import datetime, timedelta
from uuid import UUID

from application.agent_failures import RESTARTED_EARLY, STALLED
from application.agent_sessions import AgentTurn, change_session
from application.announce import fail_reply
from application.errors import ApplicationError
from application.live import EventType, about_conversation
from application.ports.agent_gateway import AgentGateway
from application.ports.background import BackgroundWork
from application.ports.clock import Clock
from application.ports.live_events import LiveEvents
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.agent_sessions import AgentSession
from domain.errors import DomainError
from domain.messages import Message

log = logging.getLogger(__name__)

ResumedTurnRunner = Callable[[AgentTurn, Message], Awaitable[None]]
LocalTurns = Callable[[], Collection[UUID]]
BATCH = 100


class _NotOurs(DomainError):
    """Someone else holds the turn's lease."""


class RecoverAgentTurns:
    """Take over agent turns whose consumer stopped (a crash or a restart) and resume them.

    Rules:
    - a turn is taken over when nobody holds its lease (`everything=True` at the start of a
      single instance, which knows nobody else runs); the take-over renews the lease under
      optimistic locking, so two instances never resume the same turn;
    - a turn this process is still consuming is never taken over, however late its consumer
      is with its writes (an overloaded loop): its lease is renewed instead;
    - a taken-over turn continues from the stored `last_event_id` through the Agent Service's
      resume stream: nothing is executed again, and the reply's stored text plus the resumed
      deltas are exactly the answer (clients first get the reply as stored);
    - a turn that never heard from the agent cannot be resumed: its reply fails, asking the
      user to send again, and the turn ends.
    Returns the ids of the replies being resumed.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        live: LiveEvents,
        gateway: AgentGateway,
        background: BackgroundWork,
        run: ResumedTurnRunner,
        lease: timedelta,
        local: LocalTurns = frozenset,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._live = live
        self._gateway = gateway
        self._background = background
        self._run = run
        self._lease = lease
        self._local = local

    async def execute(self, everything: bool = False) -> set[UUID]:
        local = set(self._local())
        for session_id in local:
            await self._renew(session_id)
        now = self._clock.now()
        async with self._uow() as uow:
            candidates = await uow.agent_sessions.with_unleased_turns(
                datetime.max.replace(tzinfo=now.tzinfo) if everything else now, BATCH
            )
        resumed = set()
        for candidate in candidates:
            if candidate.id in local:
                continue
            reply_id = await self._take_over(candidate, everything)
            if reply_id is not None:
                resumed.add(reply_id)
        return resumed

    async def _take_over(self, candidate: AgentSession, everything: bool) -> UUID | None:
        def claim(session: AgentSession) -> None:
            now = self._clock.now()
            if not (everything or session.lease_expired(now)):
                raise _NotOurs
            session.renew_lease(now + self._lease)

        try:
            session, _ = await change_session(self._uow, candidate.id, claim)
        except (_NotOurs, DomainError):
            return None
        async with self._uow() as uow:
            reply = await uow.messages.get(session.turn_reply_id) if session.turn_reply_id else None
        if reply is None or not reply.is_streaming or session.agent_session_id is None:
            await self._give_up(session, reply, RESTARTED_EARLY)
            return None
        async with self._uow() as uow:
            floor = await uow.messages.max_event_seq(session.conversation_id)
        await self._live.ensure_seq_at_least(session.conversation_id, floor)
        events = self._gateway.resume(session.agent_session_id, session.last_event_id)
        turn = AgentTurn(session, None, events)
        self._background.submit(str(session.conversation_id), lambda: self._run(turn, reply))
        log.info("resuming agent turn session=%s after event %s", session.id, session.last_event_id)
        return reply.id

    async def _renew(self, session_id: UUID) -> None:
        """Keep a turn this process consumes, however late its own writes are."""
        until = self._clock.now() + self._lease
        with suppress(DomainError, ApplicationError):
            await change_session(self._uow, session_id, lambda s: s.renew_lease(until))

    async def _give_up(self, session: AgentSession, reply: Message | None, reason: str) -> None:
        await change_session(self._uow, session.id, lambda s: s.end_turn(self._clock.now()))
        if reply is not None and reply.is_streaming:
            await fail_reply(self._uow, self._live, reply, reason)


class ReapStaleTurns:
    """The leftovers of crashes nobody could resume: a turn that has seen no event for longer
    than the stream cap and whose lease lapsed ends its session as FAILED; its reply fails and
    the conversation's clients get a notice."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, live: LiveEvents, stream_cap: timedelta
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._live = live
        self._cap = stream_cap

    async def execute(self) -> int:
        now = self._clock.now()
        async with self._uow() as uow:
            stale = await uow.agent_sessions.with_stale_turns(now - self._cap, BATCH)
        reaped = 0
        for candidate in stale:
            if await self._reap(candidate):
                reaped += 1
        return reaped

    async def _reap(self, candidate: AgentSession) -> bool:
        def fail(session: AgentSession) -> UUID | None:
            now = self._clock.now()
            if not session.lease_expired(now) or now - session.last_interaction_at < self._cap:
                raise _NotOurs
            reply_id = session.turn_reply_id
            session.fail(now)
            return reply_id

        try:
            session, reply_id = await change_session(self._uow, candidate.id, fail)
        except (_NotOurs, DomainError):
            return False
        async with self._uow() as uow:
            reply = await uow.messages.get(reply_id) if reply_id else None
        if reply is not None and reply.is_streaming:
            await fail_reply(self._uow, self._live, reply, STALLED)
        await self._live.publish(
            about_conversation(
                EventType.NOTICE, session.conversation_id, level="warning", message=STALLED
            )
        )
        log.warning("reaped stale agent turn session=%s", session.id)
        return True
