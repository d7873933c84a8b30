"""The Agent Service client's end-to-end events/s against a bare aiohttp read of the same stream.

Starts the reference Agent Service in a child process on a loopback port with no pacing, then
reads runs of `long N` (N answer chunks and COMPLETE) two ways, alternating, on one pooled
session: a bare aiohttp read of the execute response (bytes only, no parsing), and
`AgentServiceClient.execute_agent`, which parses, decodes, maps to domain values, checks ids and
watches the stream. Prints the median events/s of each way and their ratio, for one stream at a
time and for several concurrent ones. Then the client's own ceiling: the same events replayed
by an in-process server from memory in 64 KiB writes, as fast as loopback carries them.

    python benchmarks/agent_client_stream.py [--chunks 10000] [--runs 7] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from adapters.agent_service import AgentClientConfig, AgentServiceClient
from application.ports.agent_gateway import AgentTurnRequest, UserContext
from domain.agent_events import TurnCompleted

KEY = "benchmark-key"
SERVER = """
import asyncio
from entrypoints.reference_agent import ReferenceAgentConfig, serve_until_stopped
config = ReferenceAgentConfig(
    api_key=%r, first_event_ms=0, event_delay_ms=0, access_log=False, max_log_events=50_000
)
asyncio.run(serve_until_stopped(config, "127.0.0.1", 0))
"""

Reader = Callable[[], Awaitable[int]]


def start_server() -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen(  # noqa: S603 (this interpreter, a fixed script)
        [sys.executable, "-c", SERVER % KEY], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if "serving on" not in line:
        child.kill()
        raise SystemExit(f"the reference service did not start: {line!r}")
    return child, line.rsplit(" ", 1)[1].strip()


def body(chunks: int) -> dict[str, object]:
    return {
        "profile_name": "bench",
        "input": f"long {chunks}",
        "chat_history": [],
        "user_context": {"user_id": "u", "org_id": "o", "permissions": []},
    }


async def bare_read(http: aiohttp.ClientSession, url: str, chunks: int) -> int:
    """The stream's bytes, read as they come: the floor any client pays."""
    headers = {"X-API-Key": KEY, "Idempotency-Key": uuid.uuid4().hex}
    async with http.post(f"{url}/api/v1/agent/execute", json=body(chunks), headers=headers) as r:
        tail, complete = b"", False
        async for data in r.content.iter_any():
            complete = complete or b"event: COMPLETE" in data or b"COMPLETE" in tail + data[:20]
            tail = data[-20:]
    if not complete:
        raise SystemExit("a bare read ended before COMPLETE")
    return chunks + 1


async def client_read(client: AgentServiceClient, chunks: int) -> int:
    request = AgentTurnRequest(
        profile_name="bench",
        input=f"long {chunks}",
        chat_history=[],
        user_context=UserContext("u", "o"),
    )
    count = 0
    async for event in client.execute_agent(request):
        count += 1
        last = event
    if not isinstance(last, TurnCompleted) or count != chunks + 1:
        raise SystemExit("the client's run did not end with COMPLETE")
    return count


async def rate(read: Reader, concurrency: int) -> float:
    started = time.perf_counter()
    counts = await asyncio.gather(*(read() for _ in range(concurrency)))
    return sum(counts) / (time.perf_counter() - started)


async def measure(url: str, chunks: int, runs: int, concurrency: int) -> None:
    connector = aiohttp.TCPConnector(limit=200, limit_per_host=200)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=None)
    ) as http:
        client = AgentServiceClient(AgentClientConfig(base_url=url, api_key=KEY), session=http)
        ways: dict[str, Reader] = {
            "bare aiohttp read": lambda: bare_read(http, url, chunks),
            "AgentServiceClient": lambda: client_read(client, chunks),
        }
        for parallel in sorted({1, concurrency}):
            rates: dict[str, list[float]] = {name: [] for name in ways}
            await rate(ways["bare aiohttp read"], parallel)  # warm up both sides
            for _ in range(runs):
                for name, read in ways.items():
                    rates[name].append(await rate(read, parallel))
            print(f"\n{parallel} concurrent stream(s) of {chunks + 1:,} events, {runs} runs each:")
            medians = {name: statistics.median(values) for name, values in rates.items()}
            for name, value in medians.items():
                print(f"  {name:20} {value / 1000:8.1f} k events/s (median)")
            ratio = medians["AgentServiceClient"] / medians["bare aiohttp read"]
            print(f"  client / bare read: {ratio:.2f}x")


def recorded(chunks: int) -> bytes:
    session = str(uuid.uuid4())
    events = [
        f'id: {n}\nevent: ANSWER_CHUNK\ndata: {{"session_id":"{session}","text":"part {n} "}}\n\n'
        for n in range(1, chunks + 1)
    ]
    events.append(f'id: {chunks + 1}\nevent: COMPLETE\ndata: {{"session_id":"{session}"}}\n\n')
    return "".join(events).encode()


async def ceiling(chunks: int, runs: int) -> None:
    """The client alone: a server that only copies a recorded stream out of memory."""
    stream = recorded(chunks)

    async def replay(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for start in range(0, len(stream), 65536):
            await response.write(stream[start : start + 65536])
        return response

    app = web.Application()
    app.router.add_post("/api/v1/agent/execute", replay)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        client = AgentServiceClient(AgentClientConfig(base_url=url, api_key=KEY), session=http)
        rates = [await rate(lambda: client_read(client, chunks), 1) for _ in range(runs)]
    await runner.cleanup()
    print(f"\nclient ceiling on a recorded stream of {chunks + 1:,} events (same process):")
    print(f"  AgentServiceClient   {statistics.median(rates) / 1000:8.1f} k events/s (median)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000, help="answer chunks per run")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    child, url = start_server()
    try:
        asyncio.run(measure(url, args.chunks, args.runs, args.concurrency))
        asyncio.run(ceiling(args.chunks * 10, args.runs))
    finally:
        child.terminate()
        child.wait(timeout=10)


if __name__ == "__main__":
    main()
