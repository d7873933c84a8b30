import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from uuid import UUID

from application.live import EventType, LiveEvent
from application.ports.live_events import RESTART_MARGIN, LiveEvents
from application.subscriber_queue import SubscriberQueue

_Delta = tuple[int, UUID | None, str]
"""A buffered `message.delta` as (seq, message_id, delta): the event most often held, kept in
about half the memory of its envelope object and data dict (130 bytes against 245)."""


def _held(event: LiveEvent) -> LiveEvent | _Delta:
    if event.type == EventType.MESSAGE_DELTA and len(event.data) == 1 and "delta" in event.data:
        return event.seq, event.message_id, event.data["delta"]
    return event


def _seq(held: LiveEvent | _Delta) -> int:
    return held[0] if isinstance(held, tuple) else held.seq


def _restored(conversation_id: UUID, held: LiveEvent | _Delta) -> LiveEvent:
    if isinstance(held, tuple):
        seq, message_id, delta = held
        return LiveEvent(
            type=EventType.MESSAGE_DELTA,
            conversation_id=conversation_id,
            message_id=message_id,
            seq=seq,
            data={"delta": delta},
        )
    return held


@dataclass(slots=True)
class _Channel:
    touched: float
    last_seq: int = 0
    counting: bool = False
    buffer: deque[LiveEvent | _Delta] = field(default_factory=deque)
    subscribers: set[SubscriberQueue] = field(default_factory=set)


class InProcessLiveEvents(LiveEvents):
    """Fan-out inside one process. Numbering, buffering and delivery happen in one step with no
    await in between, so every subscriber sees a conversation's events in seq order.

    A subscriber whose queue fills up is dropped with SubscriberLagged rather than slowing the
    publisher or growing without bound; it catches up from the replay buffer. Memory is bounded
    too: beyond `max_conversations`, the least recently active conversations nobody watches are
    forgotten, and `prune` forgets those quiet for longer than `retention_s` (their numbering is
    restored from the database when they wake up).
    """

    def __init__(
        self,
        replay_size: int = 1000,
        subscriber_queue: int = 1000,
        max_conversations: int = 2000,
        retention_s: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._retention_s = retention_s
        self._clock = clock
        self._replay_size = replay_size
        self._subscriber_queue = subscriber_queue
        self._max_conversations = max_conversations
        self._channels: OrderedDict[UUID, _Channel] = OrderedDict()

    def _channel(self, conversation_id: UUID) -> _Channel:
        channel = self._channels.get(conversation_id)
        if channel is None:
            channel = self._channels[conversation_id] = _Channel(touched=self._clock())
            self._forget_idle()
        else:
            channel.touched = self._clock()
            self._channels.move_to_end(conversation_id)
        return channel

    def _forget_idle(self) -> None:
        excess = len(self._channels) - self._max_conversations
        if excess <= 0:
            return
        idle = [cid for cid, channel in self._channels.items() if not channel.subscribers]
        for conversation_id in idle[:excess]:
            del self._channels[conversation_id]

    async def publish(self, event: LiveEvent) -> LiveEvent:
        channel = self._channel(event.conversation_id)
        channel.counting = True
        channel.last_seq += 1
        numbered = event.numbered(channel.last_seq)
        channel.buffer.append(_held(numbered))
        if len(channel.buffer) > self._replay_size:
            channel.buffer.popleft()
        for queue in list(channel.subscribers):
            if not queue.offer(numbered):
                channel.subscribers.discard(queue)
        return numbered

    async def ensure_seq_at_least(self, conversation_id: UUID, seq: int) -> None:
        channel = self._channel(conversation_id)
        if not channel.counting and seq > 0:
            seq += RESTART_MARGIN
        channel.counting = True
        channel.last_seq = max(channel.last_seq, seq)

    async def last_seq(self, conversation_id: UUID) -> int:
        return self._channel(conversation_id).last_seq

    async def replay(self, conversation_id: UUID, since: int) -> Sequence[LiveEvent] | None:
        channel = self._channel(conversation_id)
        if since >= channel.last_seq:
            return []
        if not channel.buffer or _seq(channel.buffer[0]) > since + 1:
            return None
        return self._after(conversation_id, channel, since)

    async def held_after(self, conversation_id: UUID, since: int) -> Sequence[LiveEvent]:
        return self._after(conversation_id, self._channel(conversation_id), since)

    @staticmethod
    def _after(conversation_id: UUID, channel: _Channel, since: int) -> list[LiveEvent]:
        return [_restored(conversation_id, held) for held in channel.buffer if _seq(held) > since]

    async def prune(self) -> int:
        cutoff = self._clock() - self._retention_s
        quiet = [
            cid
            for cid, channel in self._channels.items()
            if channel.touched < cutoff and not channel.subscribers
        ]
        for conversation_id in quiet:
            del self._channels[conversation_id]
        return len(quiet)

    @asynccontextmanager
    async def subscribe(self, conversation_id: UUID) -> AsyncIterator[AsyncIterator[LiveEvent]]:
        channel = self._channel(conversation_id)
        queue = SubscriberQueue(self._subscriber_queue)
        channel.subscribers.add(queue)
        try:
            yield queue.events()
        finally:
            channel.subscribers.discard(queue)
