"""1,000 concurrent sessions streaming from the reference Agent Service on loopback.

Starts `convo reference-agent` in its own process (so the figures are the service's, not shared
with the client's event loop), opens every session at once through one aiohttp ClientSession,
reads each run to its COMPLETE with convo's SSE parser, checks that every session received ids
1..N+1 exactly once and in order, and prints events/s, sessions completed, errors, the peak of
streams open at once on the service, and the service's CPU time per event.

    .venv/bin/python benchmarks/reference_agent_sessions.py --sessions 1000 --chunks 100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from adapters.sse.parser import SseParser

KEY = "benchmark-key"


@dataclass
class Outcome:
    events: int = 0
    first_event_s: float | None = None
    done_s: float | None = None
    error: str | None = None


@dataclass
class Run:
    outcomes: list[Outcome] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0


def raise_open_files_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY else min(hard, max(soft, wanted))
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def start_service(
    args: argparse.Namespace, log: Path
) -> tuple[asyncio.subprocess.Process, str]:
    env = {
        **os.environ,
        "CONVO_AGENT_API_KEY": KEY,
        "CONVO_LOG_LEVEL": "WARNING",
        "CONVO_REFERENCE_AGENT_FIRST_EVENT_MS": str(args.first_event_ms),
        "CONVO_REFERENCE_AGENT_EVENT_DELAY_MS": str(args.event_delay_ms),
        "CONVO_REFERENCE_AGENT_MAX_SESSIONS": str(max(args.sessions * 2, 10_000)),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "entrypoints.cli",
        "reference-agent",
        "--port",
        "0",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=log.open("wb"),
    )
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()  # type: ignore[union-attr]
    match = re.search(r"serving on (http://\S+)", line)
    if not match:
        raise SystemExit(f"the service did not start: {line!r}; see {log}")
    return process, match.group(1)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_session(
    http: aiohttp.ClientSession, url: str, chunks: int, origin: float, gate: asyncio.Event
) -> Outcome:
    outcome = Outcome()
    payload = {
        "profile_name": "bench",
        "input": f"long {chunks}",
        "chat_history": [],
        "user_context": {"user_id": "bench", "org_id": "bench", "permissions": []},
    }
    headers = {"X-API-Key": KEY, "Idempotency-Key": str(uuid.uuid4())}
    await gate.wait()
    try:
        async with http.post(
            url + "/api/v1/agent/execute", json=payload, headers=headers
        ) as response:
            if response.status != 200:
                outcome.error = f"HTTP {response.status}"
                return outcome
            parser, expected = SseParser(), 1
            async for chunk in response.content.iter_any():
                for event in parser.feed(chunk):
                    if int(event.id) != expected:
                        outcome.error = f"id {event.id} where {expected} was due"
                        return outcome
                    if outcome.first_event_s is None:
                        outcome.first_event_s = time.perf_counter() - origin
                    expected += 1
                    outcome.events += 1
                    if event.event == "COMPLETE":
                        outcome.done_s = time.perf_counter() - origin
    except (aiohttp.ClientError, TimeoutError) as error:
        outcome.error = type(error).__name__
    if outcome.done_s is None and outcome.error is None:
        outcome.error = "stream ended before COMPLETE"
    if outcome.error is None and outcome.events != chunks + 1:
        outcome.error = f"{outcome.events} events instead of {chunks + 1}"
    return outcome


async def counters(http: aiohttp.ClientSession, url: str) -> dict[str, int]:
    async with http.get(url + "/reference/counters", headers={"X-API-Key": KEY}) as response:
        return await response.json()


async def measure(args: argparse.Namespace, url: str, pid: int) -> None:
    connector = aiohttp.TCPConnector(limit=args.sessions + 16, limit_per_host=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        gate = asyncio.Event()
        origin = time.perf_counter()
        tasks = [
            asyncio.create_task(one_session(http, url, args.chunks, origin, gate))
            for _ in range(args.sessions)
        ]
        cpu_before = cpu_seconds(pid)
        gate.set()
        outcomes = await asyncio.gather(*tasks)
        wall = time.perf_counter() - origin
        cpu = cpu_seconds(pid) - cpu_before
        server = await counters(http, url)
    report(args, outcomes, wall, cpu, server)


def report(
    args: argparse.Namespace,
    outcomes: list[Outcome],
    wall: float,
    cpu: float,
    server: dict[str, int],
) -> None:
    completed = [o for o in outcomes if o.error is None]
    errors = Counter(o.error for o in outcomes if o.error is not None)
    events = sum(o.events for o in outcomes)
    firsts = sorted(o.first_event_s for o in outcomes if o.first_event_s is not None)
    dones = sorted(o.done_s for o in completed if o.done_s is not None)
    paced = (args.first_event_ms + args.event_delay_ms * args.chunks) / 1000
    n = args.chunks
    print(f"sessions: {args.sessions} concurrent, each 'long {n}' = {n + 1} events")
    print(
        f"pacing: first event {args.first_event_ms} ms, then {args.event_delay_ms} ms between "
        f"events (a lone session takes {paced:.2f} s)"
    )
    failed = sum(errors.values())
    print(
        f"sessions completed: {len(completed)} / {args.sessions}; errors: {failed} {dict(errors)}"
    )
    print(f"events received: {events} in {wall:.2f} s = {events / wall:,.0f} events/s")
    print(f"peak streams open on the service at once: {server['streams_open_max']}")
    if firsts:
        print(
            f"time to first event: p50 {statistics.median(firsts) * 1000:.0f} ms, "
            f"p99 {firsts[int(len(firsts) * 0.99) - 1] * 1000:.0f} ms"
        )
    if dones:
        print(f"time to COMPLETE: p50 {statistics.median(dones):.2f} s, max {dones[-1]:.2f} s")
    print(f"service CPU: {cpu:.2f} s = {cpu / max(events, 1) * 1e6:.0f} us per event")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=100, help="ANSWER_CHUNKs per run")
    parser.add_argument("--first-event-ms", type=int, default=200)
    parser.add_argument("--event-delay-ms", type=int, default=20)
    args = parser.parse_args()
    limit = raise_open_files_limit(args.sessions * 2 + 256)
    print(f"open files limit: {limit}")
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "reference-agent.log"
        process, url = await start_service(args, log)
        try:
            await measure(args, url, process.pid)
        finally:
            process.terminate()
            await process.wait()


if __name__ == "__main__":
    asyncio.run(main())
