"""The benchmark's clients: a convo conversation followed over its WebSocket, a stream through
the bare relay, and a direct reader of the emitter. Each records when its first chunk came,
how long every chunk took from the emitter's write to this process, and whatever went wrong;
every event is checked (numbering, order, the text put back together)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import msgspec

from adapters.sse.parser import SseParser

_decode = msgspec.json.Decoder(dict).decode
CLOSED = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


def run_text(events: int, pace_ms: int) -> str:
    return f"bench events={events} pace={pace_ms}"


@dataclass
class Stream:
    """One run as one client saw it. `latencies_ns[i]` is chunk i+1's emitter → client time,
    `received_ns[i]` when it arrived (monotonic)."""

    events: int
    sent_ns: int = 0
    first_chunk_ns: int | None = None
    latencies_ns: list[int] = field(default_factory=list)
    received_ns: list[int] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    relayed: int = 0
    completed: bool = False
    error: str | None = None

    @property
    def first_chunk_ms(self) -> float | None:
        if self.first_chunk_ns is None:
            return None
        return (self.first_chunk_ns - self.sent_ns) / 1e6

    def chunk(self, text: str, now_ns: int) -> None:
        """Check and time one chunk (`"n:T "`, n counting from 1)."""
        if self.error is not None:
            return
        number, _, emitted = text.strip().partition(":")
        expected = len(self.latencies_ns) + 1
        if int(number) != expected:
            self.fail(f"chunk {number} where {expected} was due (lost or reordered)")
            return
        if self.first_chunk_ns is None:
            self.first_chunk_ns = now_ns
        self.latencies_ns.append(now_ns - int(emitted))
        self.received_ns.append(now_ns)
        self.text.append(text)

    def fail(self, reason: str) -> None:
        if self.error is None:
            self.error = reason

    def finish(self) -> None:
        if self.error is None and len(self.latencies_ns) != self.events:
            self.fail(f"{len(self.latencies_ns)} chunks of {self.events}")
        elif self.error is None:
            self.completed = True


async def direct(http: aiohttp.ClientSession, upstream: str, stream: Stream, pace_ms: int) -> None:
    """Read the emitter's stream directly: the floor every relayed figure is compared to."""
    body = {
        "profile_name": "bench",
        "input": run_text(stream.events, pace_ms),
        "chat_history": [],
        "user_context": {"user_id": "bench", "org_id": "bench", "permissions": []},
    }
    stream.sent_ns = time.monotonic_ns()
    async with http.post(upstream + "/api/v1/agent/execute", json=body) as response:
        if response.status != 200:
            stream.fail(f"emitter HTTP {response.status}")
            return
        parser = SseParser()
        async for data in response.content.iter_any():
            now = time.monotonic_ns()
            for event in parser.feed(data):
                stream.relayed += 1
                if event.event == "ANSWER_CHUNK":
                    stream.chunk(_decode(event.data)["text"], now)
    stream.finish()


class Conversation:
    """A convo conversation with its WebSocket open, ready to send one agent message."""

    def __init__(self, http: aiohttp.ClientSession, api: str, token: str, compress: int) -> None:
        self._http = http
        self._api = api
        self._headers = {"Authorization": f"Bearer {token}"}
        self._token = token
        self._compress = compress
        self.id = ""
        self.socket: aiohttp.ClientWebSocketResponse | None = None
        self.reply_id: str | None = None
        self.final_text: str | None = None
        self.last_seq = 0

    async def open(self) -> None:
        async with self._http.post(
            f"{self._api}/conversations", json={}, headers=self._headers
        ) as response:
            if response.status != 201:
                raise RuntimeError(f"creating a conversation: HTTP {response.status}")
            self.id = (await response.json())["id"]
        self.socket = await self._http.ws_connect(
            f"{self._api}/conversations/{self.id}/ws?access_token={self._token}",
            compress=self._compress,
            autoping=True,
            heartbeat=None,
            max_msg_size=0,
        )

    @property
    def deflated(self) -> bool:
        return bool(self.socket is not None and self.socket.compress)

    async def run(self, stream: Stream, pace_ms: int, deadline_s: float) -> None:
        """Send the agent message and read the socket until `agent.completed`."""
        assert self.socket is not None
        reader = asyncio.ensure_future(self._read(stream))
        stream.sent_ns = time.monotonic_ns()
        try:
            async with self._http.post(
                f"{self._api}/conversations/{self.id}/messages",
                json={"content": "/agent " + run_text(stream.events, pace_ms)},
                headers=self._headers,
            ) as response:
                if response.status != 202:
                    stream.fail(f"send HTTP {response.status}")
                    reader.cancel()
                    return
                self.reply_id = (await response.json())["reply_id"]
            async with asyncio.timeout(deadline_s):
                await reader
        except TimeoutError:
            stream.fail("timed out before agent.completed")
        finally:
            reader.cancel()

    async def _read(self, stream: Stream) -> None:
        assert self.socket is not None
        async for message in self.socket:
            if message.type in CLOSED:
                stream.fail(f"socket closed: {self.socket.close_code}")
                return
            now = time.monotonic_ns()
            envelope: dict[str, Any] = _decode(message.data)
            seq = envelope["seq"]
            if self.last_seq and seq != self.last_seq + 1:
                stream.fail(f"seq {seq} after {self.last_seq}")
            self.last_seq = seq
            kind = envelope["type"]
            if kind == "message.delta":
                stream.relayed += 1
                stream.chunk(envelope["data"]["delta"], now)
            elif kind == "message.completed":
                self.final_text = envelope["data"]["message"]["content"]
            elif kind in ("message.failed", "agent.error"):
                stream.fail(f"{kind}: {envelope['data']}")
            elif kind == "agent.completed":
                stream.relayed += 1
                self._check_final(stream)
                stream.finish()
                return

    def _check_final(self, stream: Stream) -> None:
        if self.final_text != "".join(stream.text):
            stream.fail("message.completed differs from the deltas received")

    async def stored_reply(self) -> str | None:
        """The reply as stored. Asked again once if the pooled connection it went out on was
        closed by the server as idle in that instant (its keep-alive timeout, 5 s, is about a
        stream's length): seen as a disconnection, or as a reset when the close crossed the
        request."""
        try:
            messages = await self._messages()
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            messages = await self._messages()
        return next((m["content"] for m in messages if m["id"] == self.reply_id), None)

    async def _messages(self) -> list[dict[str, Any]]:
        async with self._http.get(
            f"{self._api}/conversations/{self.id}/messages", headers=self._headers
        ) as response:
            return (await response.json())["items"]

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()


class RelayStream:
    """A WebSocket to the bare relay, ready to ask for one run."""

    def __init__(self, http: aiohttp.ClientSession, url: str, compress: int) -> None:
        self._http = http
        self._url = url
        self._compress = compress
        self.socket: aiohttp.ClientWebSocketResponse | None = None

    async def open(self) -> None:
        self.socket = await self._http.ws_connect(
            self._url + "/relay", compress=self._compress, heartbeat=None, max_msg_size=0
        )

    async def run(self, stream: Stream, pace_ms: int, deadline_s: float) -> None:
        assert self.socket is not None
        stream.sent_ns = time.monotonic_ns()
        await self.socket.send_str(run_text(stream.events, pace_ms))
        try:
            async with asyncio.timeout(deadline_s):
                await self._read(stream)
        except TimeoutError:
            stream.fail("timed out before agent.completed")

    async def _read(self, stream: Stream) -> None:
        assert self.socket is not None
        last = 0
        async for message in self.socket:
            if message.type in CLOSED:
                stream.fail("socket closed")
                return
            now = time.monotonic_ns()
            envelope = _decode(message.data)
            if envelope["seq"] != last + 1:
                stream.fail(f"seq {envelope['seq']} after {last}")
            last = envelope["seq"]
            stream.relayed += 1
            if envelope["type"] == "message.delta":
                stream.chunk(envelope["data"]["delta"], now)
            else:
                stream.finish()
                return

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
