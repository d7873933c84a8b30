"""Writing server-sent events with byte-level control: heartbeats, and the injected faults
(header and first-event latency, cuts without the chunked terminator, malformed events, stalls,
drips)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import msgspec
from aiohttp import web

from entrypoints.reference_agent.faults import FaultSpec, MalformedKind
from entrypoints.reference_agent.log import EventLog, EventsExpired, LoggedEvent

HEARTBEAT = b": heartbeat\n\n"
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}
UNKNOWN_EVENT = "PROGRESS"

Malform = Callable[[MalformedKind], bytes]


class Wire:
    """One streaming response with its faults applied. `event` and `open` return False once
    the connection has been cut on purpose; the caller then stops writing."""

    def __init__(
        self,
        request: web.Request,
        fault: FaultSpec,
        heartbeat_s: float,
        headers: Mapping[str, str],
    ) -> None:
        self._request = request
        self._fault = fault
        self._heartbeat_s = heartbeat_s
        self.response = web.StreamResponse(headers={**SSE_HEADERS, **headers})
        self.written = 0

    async def open(self) -> bool:
        fault = self._fault
        if fault.headers_delay_ms:
            await asyncio.sleep(fault.headers_delay_ms / 1000)
        await self.response.prepare(self._request)
        if fault.stall_ms and fault.stall_after == 0:
            await asyncio.sleep(fault.stall_ms / 1000)
        if fault.cut_after == 0:
            self.cut()
            return False
        if fault.first_event_delay_ms:
            await self.quiet(fault.first_event_delay_ms / 1000)
        return True

    async def quiet(self, seconds: float) -> None:
        """Write no event for `seconds`, with heartbeats as usual."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(left, self._heartbeat_s))
            if loop.time() < deadline:
                await self.heartbeat()

    async def heartbeat(self) -> None:
        await self._write(HEARTBEAT)

    async def event(self, frame: bytes, malform: Malform | None = None) -> bool:
        fault = self._fault
        self.written += 1
        if fault.malformed and malform and self.written == (fault.malformed_at or 1):
            frame = malform(fault.malformed)
        await self._write(frame)
        if fault.cut_after == self.written:
            self.cut()
            return False
        if fault.stall_ms and self.written == (
            1 if fault.stall_after is None else fault.stall_after
        ):
            await asyncio.sleep(fault.stall_ms / 1000)
        return True

    async def finish(self) -> None:
        await self.response.write_eof()

    def cut(self) -> None:
        """Close the connection without the chunked terminator: the client sees a broken body."""
        transport = self._request.transport
        if transport is not None:
            transport.close()

    async def _write(self, data: bytes) -> None:
        if not self._fault.drip_ms:
            await self.response.write(data)
            return
        step = self._fault.drip_bytes or 1
        for start in range(0, len(data), step):
            await self.response.write(data[start : start + step])
            await asyncio.sleep(self._fault.drip_ms / 1000)


async def relay(wire: Wire, log: EventLog, session_id: str, after: int, heartbeat_s: float) -> None:
    """Write the events after `after` from the log, replayed then live, up to and including the
    next terminal one, with heartbeats while none comes."""
    cursor = after
    while True:
        try:
            batch = log.after(cursor, 256)
        except EventsExpired:
            wire.cut()
            return
        if not batch:
            if not await log.wait_beyond(cursor, heartbeat_s):
                await wire.heartbeat()
            continue
        for event in batch:
            if not await wire.event(
                event.frame, lambda kind, e=event: malformed(e, session_id, kind)
            ):
                return
            cursor = event.id
            if event.terminal:
                await wire.finish()
                return


def malformed(event: LoggedEvent, session_id: str, kind: MalformedKind) -> bytes:
    """The malformed stand-in for `event`, with its id (docs: "Fault injection")."""
    head = b"id: %d\nevent: %s\n" % (event.id, event.event.encode())
    if kind == "bad-json":
        text = event.data.decode()
        return head + b"data: %s\n\n" % text[: max(len(text) // 2, 1)].encode()
    if kind == "unknown-type":
        return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.id, UNKNOWN_EVENT.encode(), event.data)
    if kind == "missing-fields":
        return head + b"data: %s\n\n" % msgspec.json.encode({"session_id": session_id})
    return head + b"\n"
