"""SSE parser throughput: convo's parser beside httpx-sse's and openai-python's decoders.

Builds a ~20 MB stream of ~120-byte Agent Service events and feeds it to each decoder twice:
in 64 KiB chunks and one event per chunk. Prints events/s and µs/event for each, the ratio of
convo's parser to the fastest other one, and the same for convo's parser followed by JSON
decoding of every event's data, and by the Agent Service client's whole per-event work (JSON
into typed Structs, then domain values). All decoders run in this one process, one after
another, the best of `--repeat` runs kept, so ratios hold on a loaded machine.

    pip install -e '.[bench]'
    python benchmarks/sse_parser.py [--megabytes 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import codecs
import gc
import time
from collections.abc import Callable, Iterable

import msgspec

from adapters.agent_service.events import decode_event, event_id_of
from adapters.sse.parser import SseParser

Decoder = Callable[[Iterable[bytes]], int]


def build_stream(megabytes: float) -> list[bytes]:
    """Events of about 120 bytes, shaped like the Agent Service's ANSWER_CHUNKs."""
    events: list[bytes] = []
    size = 0
    session = "4f3c2a1b-8d7e-4c6b-9a5f-0e1d2c3b4a59"
    n = 0
    while size < megabytes * 1_000_000:
        n += 1
        text = f"chunk {n} of the answer".ljust(26, ".")
        event = (
            f'id: {n}\nevent: ANSWER_CHUNK\ndata: {{"session_id":"{session}","text":"{text}"}}\n\n'
        ).encode()
        events.append(event)
        size += len(event)
    return events


def in_chunks(events: list[bytes], size: int) -> list[bytes]:
    stream = b"".join(events)
    return [stream[i : i + size] for i in range(0, len(stream), size)]


def convo(chunks: Iterable[bytes]) -> int:
    parser = SseParser()
    count = 0
    for chunk in chunks:
        count += len(parser.feed(chunk))
    return count


_Data = dict[str, object]
_decode_json = msgspec.json.Decoder(_Data).decode


def convo_with_json(chunks: Iterable[bytes]) -> int:
    parser = SseParser()
    count = 0
    for chunk in chunks:
        for event in parser.feed(chunk):
            _decode_json(event.data)
            count += 1
    return count


def convo_to_domain(chunks: Iterable[bytes]) -> int:
    """What the Agent Service client does per event: parse, read the id, decode the data into
    its msgspec Struct and build the domain value."""
    parser = SseParser()
    count = 0
    for chunk in chunks:
        for event in parser.feed(chunk):
            decode_event(event.event, event_id_of(event.id), event.data)
            count += 1
    return count


def httpx_sse(chunks: Iterable[bytes]) -> int:
    """httpx-sse as `EventSource.iter_sse` drives it: UTF-8 text, its line decoder, its SSE
    decoder line by line (the incremental text decoding stands in for httpx's own)."""
    from httpx_sse._decoders import SSEDecoder, SSELineDecoder

    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    lines = SSELineDecoder()
    decoder = SSEDecoder()
    count = 0
    for chunk in chunks:
        for line in lines.decode(text.decode(chunk)):
            if decoder.decode(line) is not None:
                count += 1
    return count


def openai_sse(chunks: Iterable[bytes]) -> int:
    """openai-python's `SSEDecoder.iter_bytes`, the decoder its streaming responses use."""
    from openai._streaming import SSEDecoder

    return sum(1 for _ in SSEDecoder().iter_bytes(iter(chunks)))


def best_of(decode: Decoder, chunks: list[bytes], repeat: int) -> tuple[float, int]:
    best = float("inf")
    count = 0
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        count = decode(chunks)
        best = min(best, time.perf_counter() - started)
    return best, count


def run(megabytes: float, repeat: int) -> None:
    events = build_stream(megabytes)
    total = sum(map(len, events))
    print(
        f"stream: {len(events):,} events, {total / 1e6:.1f} MB, {total / len(events):.0f} B/event"
    )
    feeds = {"64 KiB chunks": in_chunks(events, 65536), "one event per chunk": events}
    decoders: dict[str, Decoder] = {
        "convo SseParser": convo,
        "httpx-sse 0.4": httpx_sse,
        "openai-python": openai_sse,
        "convo SseParser + JSON": convo_with_json,
        "convo + domain events": convo_to_domain,
    }
    for feed, chunks in feeds.items():
        print(f"\n{feed}:")
        rates: dict[str, float] = {}
        for name, decode in decoders.items():
            seconds, count = best_of(decode, chunks, repeat)
            if count != len(events):
                raise SystemExit(f"{name} found {count} events, expected {len(events)}")
            rates[name] = count / seconds
            rate = rates[name]
            print(f"  {name:24} {rate / 1e6:6.3f} M events/s  {1e6 / rate:5.2f} µs/event")
        fastest_other = max(rates["httpx-sse 0.4"], rates["openai-python"])
        print(f"  convo / fastest other: {rates['convo SseParser'] / fastest_other:.2f}x")
        print(
            f"  convo + JSON / fastest other (no JSON): "
            f"{rates['convo SseParser + JSON'] / fastest_other:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    run(args.megabytes, args.repeat)


if __name__ == "__main__":
    main()
