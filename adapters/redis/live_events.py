"""Live events across instances: numbered and kept in Redis, fanned out by pub/sub."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from uuid import UUID

import msgspec
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection

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
    is told to catch up from the buffer, and the next subscription opens a new connection.
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
        self._subscriber: AbstractConnection | None = None
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
            connection = await self._subscriber_connection()
            channel = self._channels.get(name)
            if channel is None:
                channel = self._channels[name] = _Channel()
                try:
                    await connection.send_command("SUBSCRIBE", name, check_health=False)
                except BaseException:
                    del self._channels[name]
                    raise
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
                if self._subscriber is not None:
                    # The connection may be breaking or closing: its subscriptions end with it.
                    with suppress(Exception):
                        await self._subscriber.send_command("UNSUBSCRIBE", name, check_health=False)

    async def _subscriber_connection(self) -> AbstractConnection:
        """The process's pub/sub connection, opened (with its reader) on first use.

        A connection of its own, outside the pool, read directly: redis-py's PubSub wraps
        every message in a retry scope and a dict on the way, a third of the bus's cost per
        event when measured."""
        if self._subscriber is None:
            connection = self._redis.connection_pool.make_connection()
            await connection.connect()
            self._subscriber = connection
            self._reader = asyncio.get_running_loop().create_task(self._read(connection))
        return self._subscriber

    async def _read(self, connection: AbstractConnection) -> None:
        try:
            while True:
                self._dispatch(await connection.read_response(timeout=math.inf, push_request=True))
        except Exception as error:
            log.warning("live events: pub/sub connection lost (%s); subscribers catch up", error)
            async with self._lock:
                if self._subscriber is connection:
                    self._subscriber = None
                self._drop_everyone()
            with suppress(Exception):
                await connection.disconnect()

    def _dispatch(self, message: object) -> None:
        if not isinstance(message, list) or len(message) < 3:
            return
        kind, name, payload = message[0], message[1], message[2]
        channel = self._channels.get(name.decode())
        if channel is None:
            return
        if kind == b"message":
            self._deliver(channel, _decode(payload))
        elif kind == b"subscribe":
            channel.ready.set()

    def _deliver(self, channel: _Channel, event: LiveEvent) -> None:
        for queue in list(channel.queues):
            if not queue.offer(event):
                channel.queues.discard(queue)

    def _drop_everyone(self) -> None:
        """Events may have been missed: make every local subscriber reconnect and catch up
        (on a new pub/sub connection, subscribed afresh)."""
        for channel in self._channels.values():
            for queue in channel.queues:
                queue.lag()
            channel.ready.set()
        self._channels = {}

    async def close(self) -> None:
        await self._publish_script.close()
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
        subscriber, self._subscriber = self._subscriber, None
        if subscriber is not None:
            await subscriber.disconnect()
