"""Windowing a 10,000-message conversation with a 4,000-token budget, counts cached.

Token counts are computed once with the real offline tokenizer (o200k_base), as the service
caches them with each message; then every strategy windows the whole conversation many times.
The cold counting cost is printed too, for the first window of a conversation.

    .venv/bin/python benchmarks/history_window.py [--messages 10000] [--rounds 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from adapters.summarizer.extractive import ExtractiveSummarizer
from adapters.tokenizer.tiktoken_counter import TiktokenCounter
from domain.history import (
    HistoryItem,
    Strategy,
    TextMeasure,
    WindowPolicy,
    attach_summary,
    select_window,
)
from domain.messages import ChatTurn, Role

WORDS = [
    "invoice", "order", "report", "search", "file", "code", "result", "answer", "please",
    "customer", "account", "refund", "quarter", "total", "summary", "python", "error",
    "deploy", "server", "database", "query", "weather", "meeting",
]  # fmt: skip


def conversation(size: int, seed: int = 7) -> list[tuple[Role, str, str | None]]:
    """Users and assistants alternate; one assistant message in ten is a tool call followed by
    its result (a group). Lengths vary from a few words to a few hundred."""
    rng = random.Random(seed)  # noqa: S311 (reproducible test data, not secrets)
    made: list[tuple[Role, str, str | None]] = []
    for n in range(size):
        role = Role.USER if n % 2 == 0 else Role.ASSISTANT
        text = " ".join(rng.choice(WORDS) for _ in range(rng.choice([5, 12, 30, 80, 250])))
        group = f"call-{n}" if role is Role.ASSISTANT and n % 20 == 1 else None
        made.append((role, text + ".", group))
        if group:
            made.append((Role.SYSTEM, "tool result: " + text[:200], group))
    return made[:size]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=200)
    arguments = parser.parse_args()
    counter = TiktokenCounter("o200k_base")
    counter.warm()
    raw = conversation(arguments.messages)
    started = time.perf_counter()
    items = [
        HistoryItem(key=n, role=role, content=text, tokens=counter.count(text), group=group)
        for n, (role, text, group) in enumerate(raw)
    ]
    counting = time.perf_counter() - started
    total = sum(item.tokens for item in items)
    print(f"{len(items):,} messages, {total:,} tokens; counting them once (cold): {ms(counting)}")
    measure = TextMeasure(counter.count, counter.truncate)
    print(f"goal: a window under 5 ms; {arguments.rounds} rounds each, budget 4,000 tokens")
    for strategy in Strategy:
        policy = WindowPolicy(strategy, max_messages=10, max_tokens=4000, summary_tokens=400)
        samples = []
        for _ in range(arguments.rounds):
            before = time.perf_counter()
            window = select_window(items, policy, measure)
            samples.append(time.perf_counter() - before)
        samples.sort()
        p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99) - 1]
        print(
            f"{strategy.value:14} p50 {ms(p50)}  p99 {ms(p99)}  max {ms(samples[-1])}  "
            f"kept {len(window.items)} messages, {window.tokens} tokens"
        )
    summary_policy = WindowPolicy(Strategy.SUMMARY, max_tokens=4000, summary_tokens=400)
    window = select_window(items, summary_policy, measure)
    summarizer = ExtractiveSummarizer(counter)
    turns = [ChatTurn(item.role, item.content) for item in window.dropped[-500:]]
    before = time.perf_counter()
    text = asyncio.run(summarizer.summarize(turns, 390))
    attached = attach_summary(window, text, summary_policy, measure)
    print(
        f"extractive summary of the newest 500 dropped messages: {ms(time.perf_counter() - before)}"
        f" ({attached.tokens} tokens with the summary)"
    )


if __name__ == "__main__":
    main()
