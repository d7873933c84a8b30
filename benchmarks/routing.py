"""Routing decisions per second and their latency percentiles.

Measures `domain.routing.decide` on a mix of messages (plain chat, explicit prefixes, intent
keywords, long messages) and facts (live session, running turn, overrides, agent down), and
the same decision preceded by a cached override lookup as `RouteMessage` does it.

    .venv/bin/python benchmarks/routing.py [--decisions 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time

from application.routing_cache import CachedOverrides
from domain.conversations import Owner
from domain.routing import (
    BusyPolicy,
    IntentKeywords,
    Override,
    Overrides,
    RoutingFacts,
    RoutingRules,
    decide,
)

MESSAGES = [
    "hello there, how are you today?",
    "/agent find the quarterly report and summarize it",
    "@agent what is the weather in Berlin",
    "/chat just tell me a joke",
    "Can you search the knowledge base for our refund policy?",
    "please analyze file report.pdf and list the totals",
    "run code: print(sum(range(10)))",
    "I researched this yesterday and the searching was slow",
    ("a long message without any keyword " * 200).strip(),
    ("a long message that ends with the keyword " * 200) + "search",
    ("the longest message a user may send, researching nothing " * 600)[:32_000],
]
FACTS = [
    RoutingFacts(),
    RoutingFacts(live_session=True),
    RoutingFacts(live_session=True, turn_running=True),
    RoutingFacts(agent_available=False),
    RoutingFacts(overrides=Overrides(org=Override(False), user=Override(True))),
    RoutingFacts(
        live_session=True,
        turn_running=True,
        overrides=Overrides(org=Override(busy_policy=BusyPolicy.INTERRUPT)),
    ),
]
RULES = RoutingRules(keywords=IntentKeywords.of(["search", "analyze file", "run code"]))


class _Clock:
    def now(self):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def monotonic(self) -> float:
        return time.monotonic()


def percentiles(samples_ns: list[int]) -> str:
    ordered = sorted(samples_ns)
    p = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000  # noqa: E731
    return (
        f"p50 {p(0.50):6.2f} µs   p99 {p(0.99):6.2f} µs   p99.9 {p(0.999):6.2f} µs   "
        f"max {ordered[-1] / 1000:7.1f} µs"
    )


def bench_decide(count: int) -> None:
    cases = list(itertools.islice(itertools.cycle(itertools.product(MESSAGES, FACTS)), count))
    samples: list[int] = []
    by_length: dict[str, list[int]] = {}
    clock = time.perf_counter_ns
    started = clock()
    for content, facts in cases:
        before = clock()
        decide(content, facts, RULES)
        took = clock() - before
        samples.append(took)
        by_length.setdefault(_length_class(content), []).append(took)
    elapsed = (clock() - started) / 1e9
    print(f"decide(), all messages:       {count / elapsed:10,.0f}/s   {percentiles(samples)}")
    for name, taken in sorted(by_length.items()):
        print(f"  {name:27} {len(taken):10,}x   {percentiles(taken)}")


def _length_class(content: str) -> str:
    if len(content) <= 100:
        return "messages up to 100 chars"
    if len(content) <= 10_000:
        return "messages of 7,000-8,400 chars"
    return "a 32,000-char message (max)"


async def bench_with_cached_overrides(count: int) -> None:
    async def load(owner: Owner) -> Overrides:
        return Overrides(org=Override(True))

    cache = CachedOverrides(load, _Clock(), ttl_s=3600)  # type: ignore[arg-type]
    owners = [Owner("org", f"user{n}") for n in range(1000)]
    for owner in owners:
        await cache.for_owner(owner)
    cases = list(
        itertools.islice(itertools.cycle(zip(MESSAGES * 100, owners, strict=False)), count)
    )
    samples = []
    clock = time.perf_counter_ns
    started = clock()
    for content, owner in cases:
        before = clock()
        overrides = await cache.for_owner(owner)
        decide(content, RoutingFacts(live_session=True, overrides=overrides), RULES)
        samples.append(clock() - before)
    elapsed = (clock() - started) / 1e9
    print(f"cached overrides + decide():  {count / elapsed:10,.0f}/s   {percentiles(samples)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decisions", type=int, default=200_000)
    arguments = parser.parse_args()
    print(f"{arguments.decisions:,} decisions, goal: p99 under 50 µs")
    bench_decide(arguments.decisions)
    asyncio.run(bench_with_cached_overrides(arguments.decisions))
    print(
        "message lengths:",
        sorted({len(m) for m in MESSAGES}),
        "characters;",
        f"median {statistics.median(len(m) for m in MESSAGES):.0f}",
    )


if __name__ == "__main__":
    main()
