"""Live agent conversations through convo, measured against the same upstream read directly.

Three processes besides this one share the machine: a bare SSE emitter standing in for the
Agent Service (`live_agent/emitter.py`: paced runs whose every chunk carries the moment it was
written), convo's app (`live_agent/server.py`, built as `convo serve` builds it, on a fresh
SQLite file or PostgreSQL database) and, for the CPU yardstick, a bare relay
(`live_agent/bare_relay.py`: SSE in, WebSocket out, no framework, no database). This process
runs the clients.

Each run starts N streams at a fixed arrival rate. A stream through convo is a conversation
whose WebSocket is open before its `/agent` message is posted; it is read to
`agent.completed`. Every n-th stream (at most `--twins` per run) has a twin started at the same
instant that reads the same kind of run from the emitter directly, so each latency figure is a
delta against the twins under the same load. Every event is checked: envelope seqs
consecutive, chunks 1..K once and in order, `message.completed` equal to the deltas, and the
stored reply equal to them too. Per-event latency and CPU per event are taken over the steady
stretch (every stream under way, none ended) when there is one. docs/performance.md ("Live
agent conversations") explains each figure and holds the results.

    .venv/bin/python benchmarks/live_agent_relay.py                       # SQLite
    .venv/bin/python benchmarks/live_agent_relay.py --database postgres   # PostgreSQL
    .venv/bin/python benchmarks/live_agent_relay.py --sizes 100 --runs convo --profile convo
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import resource
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from live_agent.clients import Conversation, RelayStream, Stream, direct
from live_agent.processes import Child, own_cpu_s
from live_agent.report import fmt, percentile, triple
from redis.asyncio import Redis

from entrypoints.auth import issue_token

HERE = Path(__file__).resolve().parent
SECRET = secrets.token_urlsafe(48)
REDIS_URL = "redis://127.0.0.1:6379/0"
NO_PERSISTENCE = {"CONVO_REPLY_FLUSH_INTERVAL_MS": "60000", "CONVO_REPLY_FLUSH_CHARS": "1000000000"}
OPENING = 64
IDLE_S = 2.0
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Target:
    """What the clients talk to: convo's app or the bare relay, served a given way."""

    app: str
    server: str = "uvicorn"
    loop: str = "uvloop"
    http: str = "h11"
    gc: str = "server"
    workers: int = 1
    env: tuple[tuple[str, str], ...] = ()
    label: str = ""

    def describe(self) -> str:
        settings = [f"{k.removeprefix('CONVO_').lower()}={v}" for k, v in self.env]
        extra = (
            f", {self.label}" if self.label else (", " + ", ".join(settings) if settings else "")
        )
        gc = "" if self.gc == "server" else f", gc {self.gc}"
        workers = f", {self.workers} workers" if self.workers > 1 else ""
        return f"{self.app} on {self.server} ({self.loop}, {self.http}{gc}{workers}{extra})"


@dataclass(frozen=True)
class Load:
    conversations: int
    rate: float
    events: int
    pace_ms: int
    compress: int = 0

    def describe(self) -> str:
        deflate = "permessage-deflate" if self.compress else "no deflate"
        return (
            f"{self.conversations} streams arriving at {self.rate:g}/s, {self.events} chunks "
            f"each every {self.pace_ms} ms, {deflate}"
        )


@dataclass
class Outcome:
    target: Target
    load: Load
    relayed: list[Stream]
    direct: list[Stream]
    cpu_s: float
    loop_cpu_s: float
    emitter_cpu_s: float
    clients_cpu_s: float
    wall_s: float
    rss_start: int
    rss_idle: int
    rss_peak: int
    cpu_samples: list[tuple[int, float, float]] = field(default_factory=list)
    idle_cpu_rate: float = 0.0
    deflated: int = 0
    stored_mismatches: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def events(self) -> int:
        return sum(s.relayed for s in self.relayed)

    def cpu_us_per_event(self) -> float:
        return self.cpu_s / max(self.events, 1) * 1e6

    def steady(self) -> tuple[int, int] | None:
        """The stretch when every relayed stream was under way and none had ended: no turn
        started or finished, only events flowed. None when there was none of 1 s or more."""
        streams = [s for s in self.relayed if s.received_ns]
        if len(streams) < len(self.relayed):
            return None
        start = max(s.received_ns[0] for s in streams)
        end = min(s.received_ns[-1] for s in streams)
        return (start, end) if end - start >= 1e9 else None

    def steady_cpu(self) -> tuple[float, float, int] | None:
        """CPU seconds (all threads, less what the process spends idle; event loop) and
        events relayed between the first and last CPU samples inside the steady stretch."""
        window = self.steady()
        if window is None:
            return None
        inside = [c for c in self.cpu_samples if window[0] <= c[0] <= window[1]]
        if len(inside) < 2:
            return None
        (t0, cpu0, loop0), (t1, cpu1, loop1) = inside[0], inside[-1]
        events = sum(t0 <= t < t1 for s in self.relayed for t in s.received_ns)
        idle = self.idle_cpu_rate * (t1 - t0) / 1e9
        return cpu1 - cpu0 - idle, loop1 - loop0, events

    def steady_cpu_us(self) -> float:
        steady = self.steady_cpu()
        return math.nan if steady is None or not steady[2] else steady[0] / steady[2] * 1e6


def raise_open_files_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY else min(hard, max(soft, wanted))
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def postgres_admin(kind: str) -> str:
    return POSTGRES_ADMIN if kind == "postgres" else kind


async def on_postgres(admin: str, statement: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def database_url(kind: str, workdir: Path, n: int) -> tuple[str, str | None]:
    """A fresh database for one process: a SQLite file, or a new PostgreSQL database on the
    local server (`postgres`, or a `postgresql://…/postgres` admin URL). Returns its URL and,
    for PostgreSQL, its name (drop it when done)."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{workdir}/convo-{n}.db", None
    admin = postgres_admin(kind)
    name = f"convo_bench_{workdir.name[-8:].replace('-', '_')}_{n}".lower()
    await on_postgres(admin, f'CREATE DATABASE "{name}"')
    base = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}", name


async def start_target(
    target: Target,
    upstream: str,
    workdir: Path,
    n: int,
    profiled: Sequence[str],
    database_url: str,
) -> Child:
    args = [
        str(HERE / "live_agent" / "server.py"),
        "--app",
        target.app,
        "--server",
        target.server,
        "--loop",
        target.loop,
        "--http",
        target.http,
        "--gc",
        target.gc,
        "--workers",
        str(target.workers),
    ]
    env = {
        "BENCH_UPSTREAM": upstream,
        "CONVO_DATABASE_URL": database_url,
        "CONVO_JWT_SECRET": SECRET,
        "CONVO_AGENT_SERVICE_URL": upstream,
        "CONVO_AGENT_API_KEY": "benchmark-key",
        "CONVO_LOG_LEVEL": "WARNING",
        "CONVO_HTTP_POOL_SIZE": "5000",
        "CONVO_HTTP_POOL_SIZE_PER_HOST": "5000",
        "CONVO_REDIS_PREFIX": redis_prefix(workdir, n),
        **({"CONVO_REDIS_URL": REDIS_URL} if target.workers > 1 else {}),
        **dict(target.env),
    }
    profile = workdir / f"profile-{n}.txt" if target.app in profiled else None
    return await Child.start(target.describe(), args, env, workdir / "server.log", profile)


async def open_all(clients: Sequence[Conversation | RelayStream]) -> None:
    gate = asyncio.Semaphore(OPENING)

    async def one(client: Conversation | RelayStream) -> None:
        async with gate:
            await client.open()

    await asyncio.gather(*(one(client) for client in clients))


async def sample(child: Child, peak: list[int], cpu: list[tuple[int, float, float]]) -> None:
    """Every 50 ms: the peak of the child's memory, and its CPU time (all, event loop)."""
    while True:
        peak[0] = max(peak[0], child.rss_bytes())
        cpu.append((time.monotonic_ns(), child.cpu_s(), child.main_thread_cpu_s()))
        await asyncio.sleep(0.05)


async def measure(
    http: aiohttp.ClientSession,
    child: Child,
    emitter: Child,
    target: Target,
    load: Load,
    twins_at_most: int,
) -> Outcome:
    token = issue_token(SECRET, "bench", "bench")
    clients: list[Conversation | RelayStream] = [
        Conversation(http, child.url + "/api/v1", token, load.compress)
        if target.app == "convo"
        else RelayStream(http, child.url, load.compress)
        for _ in range(load.conversations)
    ]
    await asyncio.sleep(0.5)
    rss_start = child.rss_bytes()
    await open_all(clients)
    await asyncio.sleep(0.5)
    rss_idle = child.rss_bytes()
    idle_cpu = child.cpu_s()
    await asyncio.sleep(IDLE_S)
    idle_rate = (child.cpu_s() - idle_cpu) / IDLE_S
    relayed = [Stream(load.events) for _ in clients]
    every = max(1, load.conversations // twins_at_most)
    twinned = set(range(0, load.conversations, every))
    twins = [Stream(load.events) for _ in twinned]
    twin_of = dict(zip(sorted(twinned), twins, strict=True))
    deadline_s = load.events * load.pace_ms / 1000 + 60
    peak = [rss_idle]
    cpu_samples: list[tuple[int, float, float]] = []
    sampler = asyncio.ensure_future(sample(child, peak, cpu_samples))
    cpu, loop_cpu = child.cpu_s(), child.main_thread_cpu_s()
    emitter_cpu, own = emitter.cpu_s(), own_cpu_s()
    loop = asyncio.get_running_loop()
    origin = loop.time() + 0.1

    async def one(i: int) -> None:
        await asyncio.sleep(max(0.0, origin + i / load.rate - loop.time()))
        runs = [clients[i].run(relayed[i], load.pace_ms, deadline_s)]
        if i in twin_of:
            runs.append(direct(http, emitter.url, twin_of[i], load.pace_ms))
        await asyncio.gather(*runs)

    results = await asyncio.gather(*(one(i) for i in range(len(clients))), return_exceptions=True)
    wall = loop.time() - origin
    outcome = Outcome(
        target,
        load,
        relayed,
        twins,
        cpu_s=child.cpu_s() - cpu,
        loop_cpu_s=child.main_thread_cpu_s() - loop_cpu,
        emitter_cpu_s=emitter.cpu_s() - emitter_cpu,
        clients_cpu_s=own_cpu_s() - own,
        wall_s=wall,
        rss_start=rss_start,
        rss_idle=rss_idle,
        rss_peak=peak[0],
        cpu_samples=cpu_samples,
        idle_cpu_rate=idle_rate,
    )
    sampler.cancel()
    for result in results:
        if isinstance(result, BaseException):
            outcome.errors[repr(result)[:120]] += 1
    await finish(outcome, clients)
    return outcome


async def finish(outcome: Outcome, clients: Sequence[Conversation | RelayStream]) -> None:
    """Count what went wrong, compare stored replies with what was received, close."""
    for stream in [*outcome.relayed, *outcome.direct]:
        if stream.error is not None:
            outcome.errors[stream.error[:120]] += 1
    for client, stream in zip(clients, outcome.relayed, strict=True):
        if isinstance(client, Conversation):
            outcome.deflated += client.deflated
            if await client.stored_reply() != "".join(stream.text):
                outcome.stored_mismatches += 1
        elif client.socket is not None and client.socket.compress:
            outcome.deflated += 1
    for client in clients:
        with contextlib.suppress(Exception):
            await client.close()


def latencies_ms(streams: Sequence[Stream], window: tuple[int, int] | None) -> list[float]:
    """Every chunk's latency but the first of each stream, or only the chunks received in
    `window` when given."""
    if window is None:
        return [n / 1e6 for s in streams for n in s.latencies_ns[1:]]
    low, high = window
    return [
        n / 1e6
        for s in streams
        for n, t in zip(s.latencies_ns, s.received_ns, strict=True)
        if low <= t <= high
    ]


def firsts_ms(streams: Sequence[Stream]) -> list[float]:
    return [ms for s in streams if (ms := s.first_chunk_ms) is not None]


def show(outcome: Outcome) -> None:
    out, n = outcome, outcome.load.conversations
    print(f"\n== {out.target.describe()}: {out.load.describe()}")
    qs = (0.5, 0.95, 0.99)
    relayed, twins = triple(firsts_ms(out.relayed), qs), triple(firsts_ms(out.direct), qs)
    print(
        f"   first chunk ms p50/p95/p99   relayed {fmt(relayed, 1)}   direct {fmt(twins, 1)}"
        f"   added {fmt([a - b for a, b in zip(relayed, twins, strict=True)], 1, True)}"
    )
    window = out.steady()
    qs = (0.5, 0.99, 0.999)
    relayed = triple(latencies_ms(out.relayed, window), qs)
    twins = triple(latencies_ms(out.direct, window), qs)
    where = (
        f"steady {(window[1] - window[0]) / 1e9:.1f} s"
        if window
        else "all but first (no steady stretch)"
    )
    print(
        f"   per event ms p50/p99/p99.9   relayed {fmt(relayed)}   direct {fmt(twins)}"
        f"   added {fmt([a - b for a, b in zip(relayed, twins, strict=True)], 2, True)}   ({where})"
    )
    print(
        f"   CPU   whole run {out.cpu_s:.2f} s for {out.events} relayed events = "
        f"{out.cpu_us_per_event():.0f} µs per event ({out.loop_cpu_s:.2f} s on the event loop's "
        f"thread); emitter {out.emitter_cpu_s:.2f} s, "
        f"clients {out.clients_cpu_s:.2f} s, wall {out.wall_s:.1f} s"
    )
    steady = out.steady_cpu()
    if steady is not None:
        cpu, loop_cpu, events = steady
        idle = out.idle_cpu_rate * out.wall_s
        turns = out.cpu_s - idle - out.steady_cpu_us() * out.events / 1e6
        print(
            f"   CPU   idle {out.idle_cpu_rate * 1000:.0f} ms/s; steady stretch {cpu:.2f} s "
            f"beyond idle ({loop_cpu:.2f} s event loop) for {events} events = "
            f"{out.steady_cpu_us():.0f} µs per relayed event; the rest, "
            f"{turns / n * 1000:.1f} ms per stream, is starting and ending streams"
        )
    print(
        f"   memory   {out.rss_start / 2**20:.1f} MiB before; "
        f"{(out.rss_idle - out.rss_start) / n / 1024:.1f} KiB per open idle socket; "
        f"{(out.rss_peak - out.rss_start) / n / 1024:.1f} KiB per active session at the peak "
        f"({out.rss_peak / 2**20:.1f} MiB); deflate negotiated on {out.deflated}/{n}"
    )
    complete = sum(s.completed for s in out.relayed)
    complete_direct = sum(s.completed for s in out.direct)
    print(
        f"   checks   {complete}/{n} relayed and {complete_direct}/{len(out.direct)} direct "
        "streams complete, "
        f"every event in order; stored replies differing: {out.stored_mismatches}; "
        f"errors: {sum(out.errors.values())} {dict(out.errors) if out.errors else ''}"
    )


async def run_target(
    http: aiohttp.ClientSession,
    emitter: Child,
    target: Target,
    loads: Sequence[Load],
    workdir: Path,
    counter: list[int],
    profiled: Sequence[str],
    database: str,
    twins: int,
) -> list[Outcome]:
    counter[0] += 1
    url, created = "", None
    if target.app == "convo":
        url, created = await database_url(database, workdir, counter[0])
    outcomes = []
    child = await start_target(target, emitter.url, workdir, counter[0], profiled, url)
    try:
        warm = loads[0]
        warm_up = Load(10, 100, 5, 20, warm.compress)
        await measure(http, child, emitter, target, warm_up, twins)
        for load in loads:
            outcome = await measure(http, child, emitter, target, load, twins)
            show(outcome)
            outcomes.append(outcome)
    finally:
        await child.stop()
        if created is not None:
            await on_postgres(postgres_admin(database), f'DROP DATABASE "{created}"')
        if target.app == "convo":
            await forget_redis_keys(target, redis_prefix(workdir, counter[0]))
    return outcomes


def redis_prefix(workdir: Path, n: int) -> str:
    return f"{workdir.name}-{n}"


async def forget_redis_keys(target: Target, prefix: str) -> None:
    """Delete the keys a convo process left in Redis (its replay buffers and seqs)."""
    url = dict(target.env).get("CONVO_REDIS_URL", REDIS_URL if target.workers > 1 else None)
    if url is None:
        return
    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
    finally:
        await client.aclose()


def summary(outcomes: Sequence[Outcome]) -> None:
    print("\n== summary: relayed minus direct (same run, same load)")
    print(
        "   target                                      streams  first chunk p95/p99 ms"
        "   per event p50/p99 ms   CPU µs/event (steady)   KiB/session"
    )
    for out in outcomes:
        firsts = [
            percentile(firsts_ms(out.relayed), q) - percentile(firsts_ms(out.direct), q)
            for q in (0.95, 0.99)
        ]
        window = out.steady()
        events = [
            percentile(latencies_ms(out.relayed, window), q)
            - percentile(latencies_ms(out.direct, window), q)
            for q in (0.5, 0.99)
        ]
        memory = (out.rss_peak - out.rss_start) / out.load.conversations / 1024
        deflate = " deflate" if out.load.compress else ""
        print(
            f"   {(out.target.describe() + deflate)[:44]:44} {out.load.conversations:7}"
            f"  {fmt(firsts, 1, True):>21}   {fmt(events, 2, True):>20}"
            f"   {out.cpu_us_per_event():8.0f} ({out.steady_cpu_us():5.0f})   {memory:11.1f}"
        )


def plan(args: argparse.Namespace) -> list[tuple[Target, list[Load]]]:
    """The runs, each block on a fresh process: the relay and convo at every size, then convo
    at the largest size with permessage-deflate (uvicorn offers it), without flushes and on
    the Redis bus (the multi-instance configuration, one process)."""
    loads = [Load(n, args.rate, args.events, args.pace_ms) for n in sorted(args.sizes)[::-1]]
    deflated = [
        Load(load.conversations, load.rate, load.events, load.pace_ms, 15) for load in loads
    ]
    extra = tuple(args.env)
    blocks: list[tuple[Target, list[Load]]] = []
    for server in args.servers:
        for loop in args.loops:
            base = {"server": server, "loop": loop, "http": args.http, "gc": args.gc}
            if "relay" in args.runs:
                blocks.append((Target("relay", **base), loads))
            base["workers"] = args.workers
            if "convo" in args.runs:
                blocks.append((Target("convo", **base, env=extra), loads))
            if "deflate" in args.runs and server == "uvicorn":
                blocks.append((Target("convo", **base, env=extra), deflated[:1]))
            if "redis" in args.runs:
                on_redis = (*extra, ("CONVO_REDIS_URL", REDIS_URL))
                blocks.append((Target("convo", **base, env=on_redis, label="Redis bus"), loads[:1]))
            if "noflush" in args.runs:
                quiet = extra + tuple(NO_PERSISTENCE.items())
                blocks.append((Target("convo", **base, env=quiet, label="no flushes"), loads[:1]))
    return blocks


async def main_async(args: argparse.Namespace) -> None:
    raise_open_files_limit(max(args.sizes) * 8 + 1024)
    workdir = Path(tempfile.mkdtemp(prefix="convo-bench-"))
    print(f"logs and databases in {workdir}")
    emitter = await Child.start(
        "emitter",
        [str(HERE / "live_agent" / "emitter.py"), "--loop", args.emitter_loop],
        {},
        workdir / "emitter.log",
    )
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    outcomes: list[Outcome] = []
    counter = [0]
    try:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            for target, loads in plan(args):
                outcomes += await run_target(
                    http,
                    emitter,
                    target,
                    loads,
                    workdir,
                    counter,
                    args.profile,
                    args.database,
                    args.twins,
                )
    finally:
        await emitter.stop()
    summary(outcomes)


def at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1: every figure is a delta against a twin")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 100, 1000]
    )
    parser.add_argument("--rate", type=float, default=500.0, help="stream arrivals per second")
    parser.add_argument("--events", type=int, default=50, help="answer chunks per run")
    parser.add_argument("--pace-ms", type=int, default=100, help="between chunks (10/s)")
    parser.add_argument("--servers", type=lambda s: s.split(","), default=["uvicorn"])
    parser.add_argument("--loops", type=lambda s: s.split(","), default=["uvloop"])
    parser.add_argument("--http", choices=["h11", "httptools"], default="httptools")
    parser.add_argument(
        "--gc",
        choices=["server", "python"],
        default="server",
        help="garbage collector thresholds of convo and the relay alike (CONVO_GC_TUNING)",
    )
    parser.add_argument(
        "--twins",
        type=at_least_one,
        default=100,
        help="direct readers at most, one per every n-th stream so they arrive at the same rate",
    )
    parser.add_argument(
        "--database",
        default="sqlite",
        help="sqlite (a fresh file per process, the default) or postgres (a fresh database "
        "per process on 127.0.0.1, or give the admin URL)",
    )
    parser.add_argument(
        "--profile",
        type=lambda s: s.split(","),
        default=[],
        help="record these apps (convo, relay) with py-spy; collapsed stacks in the work dir",
    )
    parser.add_argument(
        "--workers",
        type=lambda s: max(1, int(s)),
        default=1,
        help="convo's worker processes (`convo serve --workers N`); above 1 its live events go "
        f"through Redis at {REDIS_URL} unless --env CONVO_REDIS_URL=... names another",
    )
    parser.add_argument("--client-loop", choices=["asyncio", "uvloop"], default="uvloop")
    parser.add_argument("--emitter-loop", choices=["asyncio", "uvloop"], default="uvloop")
    parser.add_argument(
        "--runs",
        type=lambda s: s.split(","),
        default=["relay", "convo", "deflate", "noflush", "redis"],
        help="which blocks to run (default all: relay,convo,deflate,noflush,redis)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        type=lambda s: tuple(s.split("=", 1)),
        help="CONVO_X=value for convo's process (repeat); recorded in the run's title",
    )
    args = parser.parse_args()
    if args.client_loop == "uvloop":
        import uvloop

        uvloop.run(main_async(args))
    else:
        asyncio.run(main_async(args))


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"\n(benchmark took {time.perf_counter() - start:.0f} s)")
