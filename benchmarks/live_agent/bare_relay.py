"""The bare relay the service is measured against: SSE in, WebSocket out, nothing else.

A raw ASGI app (no framework, no database, no bus): a client opens a WebSocket, sends the run
it wants (`bench events=K pace=MS`), and the relay posts it to the upstream named by
`BENCH_UPSTREAM`, parses the SSE stream with convo's parser, decodes each event's data and
sends it on as a live envelope (`message.delta`, then `agent.completed`), numbered per
connection. That is the least any relay of this stream must do.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp
import msgspec

from adapters.sse.parser import SseParser

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict).decode


class BareRelay:
    def __init__(self, upstream: str) -> None:
        self._upstream = upstream + "/api/v1/agent/execute"
        self._http: aiohttp.ClientSession | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            await self._socket(receive, send)
        else:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._http = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=0),
                    timeout=aiohttp.ClientTimeout(total=None),
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._http is not None:
                    await self._http.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _socket(self, receive: Receive, send: Send) -> None:
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        runs: set[asyncio.Task[None]] = set()
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text") or ""
                run = asyncio.ensure_future(self._relay(text, send))
                runs.add(run)
                run.add_done_callback(runs.discard)
        finally:
            for run in runs:
                run.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*runs, return_exceptions=True)

    async def _relay(self, run: str, send: Send) -> None:
        assert self._http is not None
        conversation, reply = str(uuid.uuid4()), str(uuid.uuid4())
        body = {
            "profile_name": "bench",
            "input": run,
            "chat_history": [],
            "user_context": {"user_id": "bench", "org_id": "bench", "permissions": []},
        }
        seq = 0
        async with self._http.post(self._upstream, json=body) as response:
            parser = SseParser()
            async for chunk in response.content.iter_any():
                for event in parser.feed(chunk):
                    data = _decode(event.data)
                    seq += 1
                    if event.event == "ANSWER_CHUNK":
                        kind, payload = "message.delta", {"delta": data["text"]}
                    else:
                        kind, payload = "agent.completed", {}
                    envelope = {
                        "v": 1,
                        "type": kind,
                        "conversation_id": conversation,
                        "message_id": reply,
                        "seq": seq,
                        "data": payload,
                    }
                    await send({"type": "websocket.send", "text": _encode(envelope).decode()})


def create() -> BareRelay:
    return BareRelay(os.environ["BENCH_UPSTREAM"])
