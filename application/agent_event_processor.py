"""From the agent's events to what the user sees: live events, the reply, the session."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from application.agent_failures import (
    AGENT_FAILED_RETRYABLE,
    INTERRUPTED,
    Failure,
    agent_failure,
    dead_letter,
    gateway_failure,
)
from application.agent_reply_recorder import AgentReplyRecorder, SessionChange, TurnTakenOver
from application.agent_sessions import AgentTurn
from application.event_seqs import EventSeqs
from application.handoff import Handoff
from application.live import EventType, about_reply, message_created, message_delta
from application.ports.agent_gateway import AgentGatewayError, AgentStreamLost
from application.ports.clock import Clock
from application.ports.ids import IdGenerator
from application.ports.live_events import LiveEvents
from application.ports.metrics import Metrics
from application.ports.reply_progress import ReplyProgress
from application.ports.routing_overrides import OverrideSource
from application.ports.unit_of_work import UnitOfWorkFactory
from application.reply_recorder import FlushPolicy
from application.reply_writes import ReplyWrites
from domain.agent_events import (
    AgentEvent,
    AgentFailed,
    AnswerChunk,
    QuestionAsked,
    Thought,
    ToolFinished,
    ToolStarted,
    TurnCompleted,
    UnknownAgentEvent,
)
from domain.agent_sessions import AgentSession, PendingQuestion
from domain.messages import Message

log = logging.getLogger(__name__)

DETAIL_CHARS = 500


@dataclass(frozen=True, slots=True)
class AgentReplyPolicy:
    """`queue_size` bounds the events read ahead of processing (backpressure on the agent's
    stream); `lease` is how long a turn stays ours without a write; `show_details` adds the
    agent's thoughts and tool inputs and outputs to live events; `group_window_s` is how long
    the writes of all replies are gathered into one group write and `sweep_s` how often
    replies with something waiting are looked at for a write that fell due while their agent
    is quiet; replies with nothing waiting are looked at every thirtieth of the lease, a
    tenth of their renewal period (`ReplyWrites`)."""

    flush: FlushPolicy = field(default_factory=FlushPolicy)
    group_window_s: float = 0.02
    sweep_s: float = 0.02
    queue_size: int = 256
    lease: timedelta = timedelta(seconds=30)
    question_ttl: timedelta = timedelta(minutes=5)
    show_details: bool = False


class _End:
    """The agent's stream stopped: with the error that stopped it, or by ending."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class _WriteFailed:
    """A write of the reply failed while the stream was quiet."""


_WRITE_FAILED = _WriteFailed()

_Item = AgentEvent | _End | _WriteFailed


class AgentEventProcessor:
    """Consumes one agent turn into its reply.

    Rules:
    - events are read into a bounded queue by one task and handled by another, so a slow
      database or slow clients slow the reading down instead of growing memory;
    - THOUGHT → `agent.thinking` (the text only when details are shown); TOOL_START/TOOL_END →
      `agent.tool_started`/`agent.tool_finished` with the tool, status and duration, also kept in
      the reply's agent metadata; ANSWER_CHUNK → `message.delta`; ASK_USER → the question ends
      the reply (so clients that know only `message.*` still see it), the session waits,
      `agent.question`; COMPLETE → `message.completed`, `agent.completed`; ERROR →
      `agent.error` with a text fit for users, the reply failed, the session FAILED when the
      error is not retryable, and a dead letter; unknown events are logged and skipped;
    - the reply is written coalesced (time or size), each write one short transaction that also
      stores the turn's `last_event_id` and renews its lease; the stored reply always equals
      the deltas clients received;
    - a turn taken over (session ended, newer message interrupting) fails the reply as
      interrupted; a shutdown writes what it has and leaves the turn to be resumed.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        progress: ReplyProgress,
        clock: Clock,
        ids: IdGenerator,
        live: LiveEvents,
        event_seqs: EventSeqs,
        metrics: Metrics,
        policy: AgentReplyPolicy,
        overrides: OverrideSource,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._live = live
        self._event_seqs = event_seqs
        self._metrics = metrics
        self._policy = policy
        self._overrides = overrides
        self._consuming: set[UUID] = set()
        self._writes = ReplyWrites(
            progress,
            clock,
            policy.group_window_s,
            sweep_s=policy.sweep_s,
            quiet_sweep_s=policy.lease.total_seconds() / 30,
        )

    def consuming(self) -> frozenset[UUID]:
        """The sessions whose turns this process is consuming right now."""
        return frozenset(self._consuming)

    async def run(self, turn: AgentTurn, reply: Message, resumed: bool = False) -> None:
        """Consume `turn` into `reply` (a streaming reply this turn owns). A `resumed` turn
        first republishes the reply as stored, which clients apply in place of what they had."""
        recorder = AgentReplyRecorder(
            reply,
            turn.session,
            self._uow,
            self._event_seqs,
            self._clock,
            self._policy.flush,
            self._policy.lease,
        )
        if reply.agent is not None:
            reply.agent.session_id = turn.session.id
        if resumed:
            event = await self._live.publish(message_created(reply))
            recorder.note(event.seq)
        started = self._clock.monotonic()
        self._consuming.add(turn.session.id)
        try:
            outcome = await self._consume(turn, recorder)
        finally:
            self._consuming.discard(turn.session.id)
        self._metrics.count("convo_agent_turns", outcome=outcome)
        self._metrics.observe("convo_agent_turn_seconds", self._clock.monotonic() - started)

    async def resume(self, turn: AgentTurn, reply: Message) -> None:
        """Continue a turn taken over after a restart (see `run`)."""
        await self.run(turn, reply, resumed=True)

    async def _consume(self, turn: AgentTurn, recorder: AgentReplyRecorder) -> str:
        queue: Handoff[_Item] = Handoff(self._policy.queue_size)
        reader = asyncio.ensure_future(_read(turn.events, queue))
        handler = _Turn(
            turn,
            recorder,
            self._live,
            self._clock,
            self._ids,
            self._uow,
            self._policy,
            self._overrides,
            _Writes(self._writes, recorder, lambda: queue.offer(_WRITE_FAILED)),
        )
        try:
            return await handler.until_done(queue)
        except AgentGatewayError as error:
            await handler.fail(gateway_failure(error))
            return "gateway_error"
        except TurnTakenOver:
            await handler.taken_over()
            return "interrupted"
        except asyncio.CancelledError:
            await handler.suspend()
            raise
        except Exception as error:
            log.exception("agent turn broke session=%s", turn.session.id)
            await handler.fail(Failure("internal", AGENT_FAILED_RETRYABLE, True, repr(error)))
            return "internal_error"
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)


async def _read(events: AsyncIterator[AgentEvent], queue: Handoff[_Item]) -> None:
    try:
        async for event in events:
            await queue.put(event)
    except asyncio.CancelledError:
        raise
    except BaseException as error:
        await queue.put(_End(error))
        return
    await queue.put(_End())


class _Writes:
    """One turn's requests for its reply's coalesced writes, which the process's `ReplyWrites`
    makes off the path of its events, grouped with every other reply's: a slow database
    delays writes, never live events; the more load, the fewer writes. A failed write is
    raised on the next request or when the writes are settled; while the stream is quiet,
    the sweep wakes the turn to raise it."""

    def __init__(
        self, group: ReplyWrites, recorder: AgentReplyRecorder, wake: Callable[[], object]
    ) -> None:
        self._group = group
        self._recorder = recorder
        self._wake = wake
        self._done: asyncio.Future[None] | None = None

    def request(self) -> None:
        self.raise_failure()
        self._done = self._group.request(self._recorder)

    def watch(self) -> None:
        """Have the reply's writes asked for while the stream is quiet; `wake` the turn when
        one of them failed (it raises the failure on `request` or `raise_failure`)."""
        self._group.watch(self._recorder, self._swept)

    def stop(self) -> None:
        """Ask for no more writes of the reply while the stream is quiet."""
        self._group.unwatch(self._recorder)

    def _swept(self) -> None:
        done = self._done
        if done is not None:
            if not done.done():
                return
            if _failure(done) is not None:
                self._wake()
                return
            self._done = None
        if self._recorder.due():
            self._done = self._group.request(self._recorder)

    def raise_failure(self) -> None:
        """Raise the failure of the write asked for, if it failed."""
        done = self._done
        if done is not None and done.done():
            self._done = None
            error = _failure(done)
            if error is not None:
                raise error

    async def final(self, change: SessionChange) -> None:
        """The turn's last write, its session changed by `change`, made by the next group with
        the other replies' writes (settle the writes asked for before first); raises its
        failure."""
        await asyncio.shield(self._group.request(self._recorder, change))

    async def settled(self) -> None:
        """Ask for no more writes, wait for the one asked for, raising its failure."""
        self.stop()
        done, self._done = self._done, None
        if done is not None:
            await asyncio.shield(done)

    async def finished(self) -> None:
        """Wait for the write asked for; its failure is the caller's to handle otherwise."""
        with suppress(Exception):
            await self.settled()

    async def abandon(self) -> None:
        """Stop writing (shutting down); a failure no longer matters, but a write under way is
        waited for, so that the turn's own last write does not run beside it."""
        self._group.withdraw(self._recorder)
        done, self._done = self._done, None
        if done is not None:
            await asyncio.gather(asyncio.shield(done), return_exceptions=True)


class _Turn:
    """The handling of one turn's events (state kept between them)."""

    def __init__(
        self,
        turn: AgentTurn,
        recorder: AgentReplyRecorder,
        live: LiveEvents,
        clock: Clock,
        ids: IdGenerator,
        uow: UnitOfWorkFactory,
        policy: AgentReplyPolicy,
        overrides: OverrideSource,
        writes: _Writes,
    ) -> None:
        self._overrides = overrides
        self._turn = turn
        self._recorder = recorder
        self._live = live
        self._clock = clock
        self._ids = ids
        self._uow = uow
        self._policy = policy
        self._reply = recorder.reply
        self._tools_started: dict[str, float] = {}
        self._answered = bool(self._reply.content)
        self._writes = writes

    async def until_done(self, queue: Handoff[_Item]) -> str:
        """Handle events until the turn's end. After an event, a reply due for a write asks for
        it; while the stream is quiet, the process's sweep asks for it (`_Writes.watch`): no
        timer per turn to arm and move with every event. The sweep wakes the turn only to
        raise a failed write (a full queue needs no wake-up: the next event raises it)."""
        self._writes.watch()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _WriteFailed):
                    self._writes.raise_failure()
                    continue
                if isinstance(item, _End):
                    raise item.error or AgentStreamLost("the agent's stream ended without an end")
                outcome = await self._handle(item)
                if outcome is not None:
                    return outcome
                if self._recorder.due():
                    self._writes.request()
        finally:
            self._writes.stop()

    async def _handle(self, event: AgentEvent) -> str | None:
        self._recorder.saw(event)
        match event:
            case AnswerChunk():
                await self._delta(event.text)
            case Thought():
                await self._publish(EventType.AGENT_THINKING, **self._detail(text=event.text))
            case ToolStarted():
                await self._tool_started(event)
            case ToolFinished():
                await self._tool_finished(event)
            case QuestionAsked():
                await self._ask(event)
                return "question"
            case TurnCompleted():
                await self._complete(event)
                return "completed"
            case AgentFailed():
                await self.fail(agent_failure(event), event)
                return "agent_error"
            case UnknownAgentEvent():
                log.info("skipping an agent event of unknown type %s", event.kind)
        return None

    async def _delta(self, text: str) -> None:
        if not text:
            return
        event = await self._live.publish(message_delta(self._reply, text))
        self._recorder.append(text, event.seq)
        self._answered = True

    async def _publish(self, event_type: EventType, **data: Any) -> None:
        event = await self._live.publish(about_reply(event_type, self._reply, **data))
        self._recorder.note(event.seq)

    def _detail(self, **values: Any) -> dict[str, Any]:
        if not self._policy.show_details:
            return {}
        return {name: _summary(value) for name, value in values.items() if value is not None}

    async def _tool_started(self, event: ToolStarted) -> None:
        self._tools_started[event.call_id] = self._clock.monotonic()
        assert self._reply.agent is not None
        self._reply.agent.tool_started(event.call_id, event.tool)
        await self._publish(
            EventType.AGENT_TOOL_STARTED,
            call_id=event.call_id,
            tool=event.tool,
            **self._detail(input=event.input),
        )

    async def _tool_finished(self, event: ToolFinished) -> None:
        started = self._tools_started.pop(event.call_id, None)
        duration = None if started is None else round((self._clock.monotonic() - started) * 1000)
        assert self._reply.agent is not None
        self._reply.agent.tool_finished(event.call_id, event.tool, event.ok, duration)
        await self._publish(
            EventType.AGENT_TOOL_FINISHED,
            call_id=event.call_id,
            tool=event.tool,
            status="ok" if event.ok else "error",
            duration_ms=duration,
            **self._detail(output=event.output),
        )

    async def _ask(self, event: QuestionAsked) -> None:
        await self._delta(_question_text(event, bool(self._reply.content)))
        assert self._reply.agent is not None
        self._reply.agent.question_id = event.question_id
        ttl = await self._question_ttl()

        def pause(session: AgentSession, now: datetime) -> None:
            session.ask(PendingQuestion.asked(event, now, ttl), now)

        await self._writes.settled()
        self._reply.complete()
        session = await self._recorder.settle(pause)
        assert session.question is not None
        await self._publish(
            EventType.AGENT_QUESTION,
            question_id=event.question_id,
            question=event.question,
            choices=list(event.choices),
            expires_at=session.question.expires_at,
        )
        await self._recorder.announce_end(self._live)

    async def _question_ttl(self) -> timedelta:
        """How long the question waits: the organisation's timeout where it set one."""
        async with self._uow() as uow:
            conversation = await uow.conversations.get(self._reply.conversation_id)
        if conversation is None:
            return self._policy.question_ttl
        overrides = await self._overrides.for_owner(conversation.owner)
        seconds = overrides.org.question_ttl_s
        return self._policy.question_ttl if seconds is None else timedelta(seconds=seconds)

    async def _complete(self, event: TurnCompleted) -> None:
        if not self._answered and event.answer:
            await self._delta(event.answer)
        await self._writes.settled()
        self._reply.complete()
        await self._writes.final(_end_turn)
        await self._recorder.announce_end(self._live)
        await self._publish(EventType.AGENT_COMPLETED, usage=dict(event.usage))

    async def fail(self, failure: Failure, event: AgentFailed | None = None) -> None:
        """End the reply as failed, the session FAILED for an agent error that cannot be
        retried (the turn just ends otherwise), and keep a dead letter."""
        give_up = event is not None and not event.retryable
        self._reply.fail()
        await self._writes.finished()
        try:
            await self._recorder.settle(_fail_session if give_up else _end_turn)
        except TurnTakenOver:
            await self._recorder.release()
        await self._keep_dead_letter(failure)
        await self._publish(
            EventType.AGENT_ERROR, message=failure.text, retryable=failure.retryable
        )
        await self._recorder.announce_end(self._live, failure.text)
        log.warning(
            "agent turn failed session=%s kind=%s code=%s: %s",
            self._turn.session.id,
            failure.kind,
            failure.code,
            failure.detail,
        )

    async def taken_over(self) -> None:
        """The session stopped running this turn. A reply that had already received its end
        keeps it; one still streaming ends as interrupted."""
        reason = None
        if self._reply.is_streaming:
            self._reply.fail()
            reason = INTERRUPTED
        await self._writes.finished()
        await self._recorder.release()
        await self._recorder.announce_end(self._live, reason)

    async def suspend(self) -> None:
        """Shutting down: keep what was received; the turn is resumed by the next owner."""
        try:
            await self._writes.abandon()
            await self._recorder.flush()
        except Exception:
            log.exception("could not store a suspended agent reply %s", self._reply.id)

    async def _keep_dead_letter(self, failure: Failure) -> None:
        session = self._turn.session
        letter = dead_letter(
            self._ids.new_id(),
            failure,
            self._reply.conversation_id,
            self._clock.now(),
            session.id,
            self._reply.id,
            session.agent_session_id,
            self._turn.request,
        )
        async with self._uow() as uow:
            await uow.dead_letters.add(letter)
            await uow.commit()


def _failure(done: asyncio.Future[None]) -> BaseException | None:
    """What a finished write failed with (a cancelled one failed with nothing)."""
    return None if done.cancelled() else done.exception()


def _end_turn(session: AgentSession, now: datetime) -> None:
    session.end_turn(now)


def _fail_session(session: AgentSession, now: datetime) -> None:
    session.fail(now)


def _question_text(event: QuestionAsked, after_text: bool) -> str:
    text = ("\n\n" if after_text else "") + event.question
    if event.choices:
        text += "\n" + "\n".join(f"- {choice}" for choice in event.choices)
    return text


def _summary(value: object) -> object:
    """A detail as shown to clients: short strings and plain JSON, longer text cut."""
    if isinstance(value, str) and len(value) > DETAIL_CHARS:
        return value[:DETAIL_CHARS] + "…"
    return value
