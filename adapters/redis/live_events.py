"""Live events across instances: numbered and kept in Redis, fanned out by pub/sub."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from uuid import UUID

import msgspec
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from adapters.redis.pipelined_script import PipelinedScript
from application.live import LiveEvent
from application.ports.live_events import RESTART_MARGIN, LiveEvents
from application.subscriber_queue import SubscriberQueue

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(LiveEvent).decode
_SEQ_FIELD = b'"seq":0,'

# Number, keep and announce in one atomic step, so every instance's subscribers see a
# conversation's events in seq order. KEYS: counter, stream. ARGV: envelope before and after
# its seq, channel, buffer length, buffer retention (ms), counter retention (ms).
_PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
local payload = ARGV[1] .. seq .. ARGV[2]
local added = redis.pcall('XADD', KEYS[2], 'MAXLEN', ARGV[4], seq .. '-0', 'e', payload)
if type(added) == 'table' and added.err then
  redis.call('DEL', KEYS[2])
  redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], seq .. '-0', 'e', payload)
end
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PUBLISH', ARGV[3], payload)
return seq
"""

# A missing counter was lost (Redis restarted or expired it): resume past the margin.
_AT_LEAST = """
local stored = redis.call('GET', KEYS[1])
local wanted = tonumber(ARGV[1])
if not stored and wanted > 0 then
  wanted = wanted + tonumber(ARGV[3])
end
if tonumber(stored or '0') < wanted then
  redis.call('SET', KEYS[1], wanted, 'PX', ARGV[2])
end
return wanted
"""


@dataclass(slots=True)
class _Channel:
    queues: set[SubscriberQueue] = field(default_factory=set)
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class RedisLiveEvents(LiveEvents):
    """The LiveEvents port on Redis (see architecture/0006).

    Publishing is one Lua call: INCR the conversation's counter, append the numbered envelope to
    a capped stream (the replay buffer, expiring after `retention_s` of quiet), PUBLISH it; the
    calls of every task of the process go together, one pipeline at a time. Each
    process keeps one pub/sub connection, subscribed to the conversations its clients follow,
    and hands each message to local subscriber queues; a slow subscriber is dropped with
    SubscriberLagged, as in-process. If the pub/sub connection breaks, every local subscriber
    is told to catch up from the buffer, and the reader reconnects.
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str = "convo",
        replay_size: int = 1000,
        retention_s: float = 3600,
        subscriber_queue: int = 1000,
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._replay_size = replay_size
        self._retention_ms = int(retention_s * 1000)
        self._counter_retention_ms = max(self._retention_ms * 24, 7 * 24 * 3600 * 1000)
        self._subscriber_queue = subscriber_queue
        self._publish_script = PipelinedScript(redis, _PUBLISH, key_count=2)
        self._at_least_script = redis.register_script(_AT_LEAST)
        self._channels: dict[str, _Channel] = {}
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def _keys(self, conversation_id: UUID) -> tuple[str, str, str]:
        tag = f"{self._prefix}:{{{conversation_id}}}"
        return f"{tag}:seq", f"{tag}:events", f"{self._prefix}:live:{conversation_id}"

    async def publish(self, event: LiveEvent) -> LiveEvent:
        counter, stream, channel = self._keys(event.conversation_id)
        head, tail = _encode(event.numbered(0)).split(_SEQ_FIELD, 1)
        seq = await self._publish_script(
            (
                counter,
                stream,
                head + b'"seq":',
                b"," + tail,
                channel,
                self._replay_size,
                self._retention_ms,
                self._counter_retention_ms,
            )
        )
        return event.numbered(int(seq))

    async def ensure_seq_at_least(self, conversation_id: UUID, seq: int) -> None:
        counter, _, _ = self._keys(conversation_id)
        await self._at_least_script(
            keys=[counter], args=[seq, self._counter_retention_ms, RESTART_MARGIN]
        )

    async def last_seq(self, conversation_id: UUID) -> int:
        counter, _, _ = self._keys(conversation_id)
        return int(await self._redis.get(counter) or 0)

    async def replay(self, conversation_id: UUID, since: int) -> Sequence[LiveEvent] | None:
        last = await self.last_seq(conversation_id)
        if since >= last:
            return []
        events = await self.held_after(conversation_id, since)
        if not events or events[0].seq != since + 1:
            return None
        return events

    async def held_after(self, conversation_id: UUID, since: int) -> Sequence[LiveEvent]:
        _, stream, _ = self._keys(conversation_id)
        entries = await self._redis.xrange(stream, min=f"{since + 1}-0", max="+")
        return [_decode(fields[b"e"]) for _, fields in entries]

    async def prune(self) -> int:
        """Redis expires quiet buffers by itself (PEXPIRE on every publish)."""
        return 0

    @asynccontextmanager
    async def subscribe(self, conversation_id: UUID) -> AsyncIterator[AsyncIterator[LiveEvent]]:
        _, _, name = self._keys(conversation_id)
        queue = SubscriberQueue(self._subscriber_queue)
        await self._join(name, queue)
        try:
            yield queue.events()
        finally:
            await self._leave(name, queue)

    async def _join(self, name: str, queue: SubscriberQueue) -> None:
        async with self._lock:
            pubsub = await self._ensure_reader()
            channel = self._channels.get(name)
            if channel is None:
                channel = self._channels[name] = _Channel()
                await pubsub.subscribe(name)
            channel.queues.add(queue)
        async with asyncio.timeout(10):
            await channel.ready.wait()

    async def _leave(self, name: str, queue: SubscriberQueue) -> None:
        async with self._lock:
            channel = self._channels.get(name)
            if channel is None:
                return
            channel.queues.discard(queue)
            if not channel.queues:
                del self._channels[name]
                if self._pubsub is not None:
                    with suppress(RedisError):
                        await self._pubsub.unsubscribe(name)

    async def _ensure_reader(self) -> PubSub:
        if self._pubsub is None:
            self._pubsub = self._redis.pubsub()
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read(self._pubsub))
        return self._pubsub

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            try:
                await self._read_until_broken(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("live events: pub/sub connection lost (%s); resubscribing", error)
                dropped = self._drop_everyone()
                await asyncio.sleep(0.5)
                await self._forget(pubsub, dropped)

    async def _read_until_broken(self, pubsub: PubSub) -> None:
        while True:
            if not pubsub.subscribed:
                await asyncio.sleep(0.01)
                continue
            message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            kind, name = message["type"], message["channel"].decode()
            channel = self._channels.get(name)
            if channel is None:
                continue
            if kind == "subscribe":
                channel.ready.set()
            elif kind == "message":
                self._deliver(channel, _decode(message["data"]))

    def _deliver(self, channel: _Channel, event: LiveEvent) -> None:
        for queue in list(channel.queues):
            if not queue.offer(event):
                channel.queues.discard(queue)

    def _drop_everyone(self) -> set[str]:
        """Events may have been missed: make every local subscriber reconnect and catch up.
        Returns the channels given up."""
        dropped = set(self._channels)
        for channel in self._channels.values():
            for queue in channel.queues:
                queue.lag()
            channel.ready.set()
        self._channels = {}
        return dropped

    async def _forget(self, pubsub: PubSub, names: set[str]) -> None:
        """Unsubscribe from channels nobody follows any more (the client resubscribes to what
        it knew when it reconnects)."""
        async with self._lock:
            unused = names - set(self._channels)
            if unused:
                with suppress(RedisError):
                    await pubsub.unsubscribe(*unused)

    async def close(self) -> None:
        await self._publish_script.close()
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            await self._pubsub.aclose()
