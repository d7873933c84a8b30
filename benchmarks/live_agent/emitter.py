"""A bare Agent Service for benchmarks: `POST /api/v1/agent/execute` answers a paced SSE run
whose every ANSWER_CHUNK carries the moment it was written, and `GET /health` answers 200.

The run is read from the input: `bench events=K pace=MS` gives K answer chunks, the first at
once and then one every MS milliseconds on a fixed schedule (no drift), then COMPLETE. Chunk n's
text is `"n:T "` where T is `time.monotonic_ns()` just before the write: CLOCK_MONOTONIC is one
clock for every process of the machine, so a client anywhere on it can tell how long the
chunk took to reach it. Nothing else of the contract is served.

    python benchmarks/live_agent/emitter.py [--port 0] [--loop uvloop]
prints `serving on http://127.0.0.1:PORT` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
import uuid

import msgspec
from aiohttp import web

RUN = re.compile(r"bench events=(\d+) pace=(\d+)")
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict).decode


def frame(event_id: int, kind: str, data: dict[str, object]) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event_id, kind.encode(), _encode(data))


async def execute(request: web.Request) -> web.StreamResponse:
    body = _decode(await request.read())
    match = RUN.search(str(body.get("input", "")))
    if match is None:
        return web.json_response({"code": "invalid_request", "message": "no run"}, status=400)
    count, pace_s = int(match.group(1)), int(match.group(2)) / 1000
    session = body.get("session_id") or str(uuid.uuid4())
    response = web.StreamResponse(headers=SSE_HEADERS)
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for n in range(1, count + 1):
        wait = start + (n - 1) * pace_s - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        text = f"{n}:{time.monotonic_ns()} "
        await response.write(frame(n, "ANSWER_CHUNK", {"session_id": session, "text": text}))
    await response.write(frame(count + 1, "COMPLETE", {"session_id": session}))
    await response.write_eof()
    return response


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def serve(port: int) -> None:
    app = web.Application()
    app.router.add_post("/api/v1/agent/execute", execute)
    app.router.add_get("/health", health)
    app.router.add_get("/api/v1/health", health)
    runner = web.AppRunner(app, access_log=None, handle_signals=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=4096)
    await site.start()
    print(f"serving on http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(serve(args.port))
    else:
        asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
