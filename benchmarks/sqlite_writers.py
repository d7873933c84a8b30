"""Write transactions on SQLite arriving faster than one at a time, with and without the
process's writer lock (`adapters.sql.sqlite_one_trip.WriterLock`).

Each transaction is a unit of work as convo runs one (`SqlUnitOfWork` on `create_engine`'s
engine, a fresh database file): an INSERT of a 200-character row, a SELECT, a commit.
Transactions start on a fixed schedule (`--rate` a second), so a slow one delays the others
only through the lock. Prints the latency of each, from its scheduled start to its commit,
and the process's CPU time. "without" takes the lock out (its acquire and release made
no-ops) so that the writers wait in SQLite's busy handler, as before the lock.

    .venv/bin/python benchmarks/sqlite_writers.py [--transactions 2000] [--rate 500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from live_agent.report import triple
from sqlalchemy import text

from adapters.sql.engine import create_engine
from adapters.sql.sqlite_one_trip import WriterLock
from adapters.sql.unit_of_work import SqlUnitOfWork

QUANTILES = (0.5, 0.95, 0.99)


@contextmanager
def without_writer_lock() -> Iterator[None]:
    acquire, release = WriterLock.acquire, WriterLock.release
    WriterLock.acquire = lambda _lock: None  # type: ignore[method-assign]
    WriterLock.release = lambda _lock: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        WriterLock.acquire, WriterLock.release = acquire, release  # type: ignore[method-assign]


async def run(path: Path, transactions: int, rate: float) -> tuple[list[float], float, float]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    latencies: list[float] = []
    start = time.perf_counter()

    async def one(number: int) -> None:
        due = start + number / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        async with SqlUnitOfWork(engine) as uow:
            connection = uow._connection
            assert connection is not None
            await connection.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": "x" * 200})
            await connection.execute(text("SELECT count(*) FROM t WHERE id < 10"))
            await uow.commit()
        latencies.append(time.perf_counter() - due)

    cpu = time.process_time()
    await asyncio.gather(*(one(number) for number in range(transactions)))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    await engine.dispose()
    return sorted(latencies), wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.transactions} transactions at {args.rate:.0f}/s, alternating, latency in ms")
    with tempfile.TemporaryDirectory() as directory:
        for round_ in range(args.rounds):
            for arm in ("with", "without"):
                path = Path(directory) / f"{arm}-{round_}.db"
                if arm == "with":
                    ordered, wall, cpu = asyncio.run(run(path, args.transactions, args.rate))
                else:
                    with without_writer_lock():
                        ordered, wall, cpu = asyncio.run(run(path, args.transactions, args.rate))
                p50, p95, p99 = (latency * 1000 for latency in triple(ordered, QUANTILES))
                print(
                    f"{arm:>8} the writer lock   p50 {p50:7.1f}   p95 {p95:7.1f}   p99 {p99:7.1f}"
                    f"   max {ordered[-1] * 1000:7.1f}   wall {wall:5.2f} s   CPU {cpu:5.2f} s"
                )


if __name__ == "__main__":
    main()
