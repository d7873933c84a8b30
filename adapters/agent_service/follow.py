"""Following one run to its terminal event, whatever happens to the stream on the way.

A run is read from its first stream (the execute response, or a resume). When that stream
breaks, goes idle, skips an event id, or ends without COMPLETE, ERROR or ASK_USER, the follower
reconnects to the session's stream endpoint with `Last-Event-ID` (never re-posting execute),
with backoff and a budget of attempts that resets whenever an event arrives. Events already
delivered are dropped by id, so a replay never repeats one, and ids must follow one another, so
none is lost. When reconnecting keeps failing it polls the session's events until the run
ends. The whole run is capped: past the cap it raises AgentTimeout, and a run whose end cannot
be seen raises AgentStreamLost; it never ends silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import TypeVar

from adapters.agent_service.calls import Calls, is_event_stream
from adapters.agent_service.events import decode_event, event_id_of
from adapters.agent_service.paths import session_path
from adapters.agent_service.transport import (
    ConnectionFailed,
    HeadersTimedOut,
    HttpResponse,
    StreamBroken,
)
from adapters.agent_service.watchdog import StreamCapReached, StreamIdle, StreamWatchdog
from adapters.sse.parser import SseParser
from application.ports.agent_gateway import (
    AgentEventPage,
    AgentProtocolError,
    AgentStreamLost,
    AgentTimeout,
    AgentUnavailable,
)
from domain.agent_events import AgentEvent, UnknownAgentEvent

log = logging.getLogger("adapters.agent_service")

T = TypeVar("T")
Poll = Callable[[str, "int | None"], Awaitable[AgentEventPage]]


class _Skipped(Exception):
    """An event id came after a gap: the events in between must be fetched again."""


class RunFollower:
    """One followed run: its session, the last event delivered, the reconnection budget.

    `last_event_id` None means no event of this run has been seen: a resume then starts from
    the first event of the session's latest run, as the contract defines.
    """

    def __init__(
        self, calls: Calls, poll: Poll, session_id: str | None, last_event_id: int | None
    ) -> None:
        self._calls = calls
        self._poll = poll
        self.session_id = session_id
        self.last_event_id = last_event_id
        self._failures = 0
        self._watchdog: StreamWatchdog

    async def events(
        self, open_first: Callable[[], Awaitable[HttpResponse]] | None = None
    ) -> AsyncIterator[AgentEvent]:
        """Every event of the run after `last_event_id`, once each and in order, ending with
        its terminal event. `open_first` opens the run's first stream (execute); without it
        the run is followed from the session's stream endpoint at once. A first stream that
        names its session in `X-Session-ID` makes that the run's session."""
        config = self._calls.config
        self._watchdog = StreamWatchdog(config.idle_timeout_s, config.stream_timeout_s)
        try:
            response = None
            if open_first is not None:
                response = await self._within_cap(open_first())
                self.session_id = self.session_id or response.header("X-Session-ID") or None
            else:
                response = await self._reconnect(first=True)
            while True:
                if response is not None:
                    async with aclosing(self._read(response)) as events:
                        async for event in events:
                            yield event
                            if event.is_terminal:
                                return
                    response = await self._reconnect()
                if response is None:
                    async for event in self._poll_until_end():
                        yield event
                    return
        except StreamCapReached:
            raise self._over_cap() from None
        finally:
            self._watchdog.stop()

    async def _read(self, response: HttpResponse) -> AsyncIterator[AgentEvent]:
        """The new events of one stream, until it ends, breaks, goes idle or skips an id."""
        parser = SseParser()
        watchdog = self._watchdog
        read = response.chunk
        try:
            while chunk := await watchdog.read(read):
                for sse in parser.feed(chunk):
                    event = self._accept(sse.event, event_id_of(sse.id), sse.data)
                    if event is None:
                        continue
                    if event.is_terminal:
                        response.close()
                        yield event
                        return
                    yield event
            self._interrupted("ended without a terminal event", "ended")
        except StreamBroken as error:
            self._interrupted(f"broke ({error})", "broken")
        except StreamIdle:
            idle = self._calls.config.idle_timeout_s
            self._interrupted(f"sent nothing for {idle:g} s", "idle")
        except _Skipped as gap:
            self._interrupted(str(gap), "gap")
        finally:
            response.close()

    def _accept(self, kind: str, event_id: int, data: str | bytes) -> AgentEvent | None:
        """The event as a domain value, or None when it was delivered before."""
        last = self.last_event_id
        if last is not None:
            if event_id <= last:
                self._calls.metrics.count("convo_agent_client_duplicates_dropped")
                return None
            if event_id != last + 1:
                raise _Skipped(f"skipped events {last + 1} to {event_id - 1}")
        event = decode_event(kind, event_id, data, self.session_id)
        self._check_session(event)
        self.last_event_id = event_id
        self._failures = 0
        return event

    def _check_session(self, event: AgentEvent) -> None:
        if event.session_id is None:
            raise AgentProtocolError(f"event {event.event_id}: the first event names no session")
        if self.session_id is None:
            self.session_id = event.session_id
        elif event.session_id != self.session_id:
            raise AgentProtocolError(f"event {event.event_id}: belongs to another session")
        if isinstance(event, UnknownAgentEvent):
            self._calls.metrics.count("convo_agent_client_unknown_events")
            log.info("unknown agent event type %r (event %d)", event.kind[:40], event.event_id)

    def _interrupted(self, what: str, reason: str) -> None:
        self._calls.metrics.count("convo_agent_client_stream_interruptions", reason=reason)
        if self.session_id is None:
            raise AgentStreamLost(f"the stream {what} before it named its session")
        log.warning(
            "agent stream of session %s %s after event %s; resuming",
            self.session_id,
            what,
            self.last_event_id,
        )

    async def _reconnect(self, first: bool = False) -> HttpResponse | None:
        """The session's stream reopened after the last event, or None once the budget of
        attempts is spent. A `first` attempt goes out without waiting."""
        config = self._calls.config
        retry_after: float | None = None
        while self._failures < config.reconnect_attempts:
            delay = config.reconnect_backoff.delay(self._failures, self._calls.uniform)
            if retry_after is not None and retry_after <= config.retry.max_retry_after_s:
                delay = max(delay, retry_after)
            if not first:
                await self._sleep(delay)
            first = False
            self._failures += 1
            self._calls.metrics.count("convo_agent_client_reconnects")
            response, retry_after = await self._open_stream()
            if response is not None:
                return response
        log.warning("session %s could not be resumed; polling its events", self.session_id)
        self._calls.metrics.count("convo_agent_client_poll_fallbacks")
        return None

    async def _open_stream(self) -> tuple[HttpResponse | None, float | None]:
        """One attempt at the session's stream. Refusals that another attempt cannot change
        raise; the others return None with the Retry-After the service sent."""
        calls = self._calls
        extra = {"Accept": "text/event-stream"}
        if self.last_event_id is not None:
            extra["Last-Event-ID"] = str(self.last_event_id)
        url = calls.config.url(session_path(self.session_id or "", "/stream"))
        timeout_s = calls.config.headers_timeout_s
        send = calls.transport.send("GET", url, calls.headers(extra), None, timeout_s)
        try:
            response = await self._within_cap(send)
        except (ConnectionFailed, HeadersTimedOut) as error:
            log.warning("resuming session %s failed: %s", self.session_id, error)
            return None, None
        if response.status == 200 and is_event_stream(response):
            return response, None
        if response.status == 204:
            response.close()
            raise AgentStreamLost(
                f"resume: session {self.session_id} has nothing after event "
                f"{self.last_event_id} and no run in progress"
            )
        if response.status == 200:
            response.close()
            log.warning("resuming session %s: not an event stream", self.session_id)
            return None, None
        error, retry_after, _ = await calls.refusal(response, "resume")
        if not isinstance(error, AgentUnavailable | AgentTimeout):
            raise error
        log.warning("resuming session %s failed: %s", self.session_id, error)
        return None, retry_after

    async def _poll_until_end(self) -> AsyncIterator[AgentEvent]:
        config = self._calls.config
        failures = 0
        while True:
            try:
                page = await self._within_cap(self._poll(self.session_id or "", self.last_event_id))
            except (AgentUnavailable, AgentTimeout) as error:
                failures += 1
                if failures > config.poll_failures:
                    raise AgentStreamLost(f"polling the run failed: {error}") from error
                await self._sleep(config.reconnect_backoff.delay(failures - 1, self._calls.uniform))
                continue
            failures = 0
            for event in page.events:
                if self.last_event_id is None or event.event_id > self.last_event_id:
                    self.last_event_id = event.event_id
                    yield event
                    if event.is_terminal:
                        return
            if page.ended:
                raise AgentStreamLost(
                    f"the run ended without a terminal event after event {self.last_event_id}"
                )
            if not page.events:
                await self._sleep(config.poll_interval_s)

    async def _within_cap(self, call: Awaitable[T]) -> T:
        """`await call`, cut short by the whole-run cap."""
        deadline = asyncio.timeout(self._watchdog.remaining_s())
        try:
            async with deadline:
                return await call
        except TimeoutError:
            if deadline.expired():
                raise StreamCapReached from None
            raise

    async def _sleep(self, seconds: float) -> None:
        remaining = self._watchdog.remaining_s()
        if seconds >= remaining:
            await self._calls.sleep(remaining)
            raise StreamCapReached
        await self._calls.sleep(seconds)

    def _over_cap(self) -> AgentTimeout:
        cap = self._calls.config.stream_timeout_s
        return AgentTimeout(
            f"the run of session {self.session_id} took longer than {cap:g} s "
            f"(last event {self.last_event_id})"
        )
