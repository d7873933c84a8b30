"""Framing of server-sent events per the WHATWG HTML standard, §9.2.

The conformance cases follow the standard's interpretation rules and its worked examples; the
property tests check that any re-chunking of a stream yields the same events, and that the
parser agrees with a plain line-by-line reading of the standard's algorithm.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sse.parser import SseEvent, SseParser, parse_all


def events(*chunks: bytes) -> list[SseEvent]:
    return parse_all(chunks)


def one_byte_at_a_time(raw: bytes) -> list[SseEvent]:
    return parse_all(raw[i : i + 1] for i in range(len(raw)))


def test_an_event_is_dispatched_on_a_blank_line() -> None:
    assert events(b"event: delta\nid: 7\ndata: hi\n\n") == [SseEvent("delta", "hi", "7")]


def test_cr_lf_and_crlf_all_end_lines() -> None:
    expected = [SseEvent("message", "a", ""), SseEvent("message", "b", "")]
    assert events(b"data: a\r\rdata: b\r\n\r\n") == expected
    assert events(b"data: a\n\ndata: b\r\n\r\n") == expected
    assert events(b"data: a\r\ndata: b\rdata: c\n\n") == [SseEvent("message", "a\nb\nc", "")]


def test_a_crlf_split_across_chunks_is_one_line_end() -> None:
    assert events(b"data: a\r", b"\n\r", b"\n") == [SseEvent("message", "a", "")]


def test_a_cr_at_a_chunk_end_followed_by_a_cr_is_two_line_ends() -> None:
    assert events(b"data: a\r", b"\rdata: b\r", b"", b"\r") == [
        SseEvent("message", "a", ""),
        SseEvent("message", "b", ""),
    ]


def test_a_leading_bom_is_dropped_and_utf8_may_split_anywhere() -> None:
    raw = "\ufeffdata: héllo ✓\n\n".encode()
    assert one_byte_at_a_time(raw) == [SseEvent("message", "héllo ✓", "")]


def test_only_one_leading_bom_is_dropped() -> None:
    assert events("\ufeff\ufeffdata: x\n\n".encode()) == []
    assert events("data: x\n\n\ufeffdata: y\n\n".encode()) == [SseEvent("message", "x", "")]


def test_invalid_utf8_becomes_replacement_characters() -> None:
    assert events(b"data: a\xffb\xe2\x82\n\n") == [SseEvent("message", "a\ufffdb\ufffd", "")]


def test_multi_line_data_joins_with_newlines_and_comments_are_skipped() -> None:
    assert events(b": hi\ndata: one\ndata:two\n\n") == [SseEvent("message", "one\ntwo", "")]


def test_the_standards_stock_ticker_example() -> None:
    assert events(b"data: YHOO\ndata: +2\ndata: 10\n\n") == [
        SseEvent("message", "YHOO\n+2\n10", "")
    ]


def test_the_standards_example_of_ids_and_spaces() -> None:
    raw = (
        b": test stream\n\ndata: first event\nid: 1\n\n"
        b"data:second event\nid\n\ndata:  third event\n\n"
    )
    assert events(raw) == [
        SseEvent("message", "first event", "1"),
        SseEvent("message", "second event", ""),
        SseEvent("message", " third event", ""),
    ]


def test_the_standards_example_of_empty_data_lines() -> None:
    assert events(b"data\n\ndata\ndata\n\ndata:") == [
        SseEvent("message", "", ""),
        SseEvent("message", "\n", ""),
    ]


def test_a_space_after_the_colon_is_optional() -> None:
    assert events(b"data:test\n\ndata: test\n\n") == [SseEvent("message", "test", "")] * 2


def test_only_the_first_colon_separates_name_and_value() -> None:
    assert events(b"data: a: b\n\n") == [SseEvent("message", "a: b", "")]


def test_field_names_are_case_sensitive_and_unknown_fields_are_ignored() -> None:
    assert events(b"Data: x\nfoo: bar\ndata: y\n\n") == [SseEvent("message", "y", "")]


def test_an_event_field_without_value_means_message() -> None:
    assert events(b"event\ndata: x\n\n") == [SseEvent("message", "x", "")]


def test_the_event_type_resets_after_each_block() -> None:
    assert events(b"event: add\ndata: 1\n\nevent: gone\n\ndata: 2\n\n") == [
        SseEvent("add", "1", ""),
        SseEvent("message", "2", ""),
    ]


def test_an_id_with_nul_is_ignored_and_the_last_id_carries_over() -> None:
    parsed = events(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
    assert [e.id for e in parsed] == ["1", "1"]


def test_an_id_only_block_sets_the_last_event_id_without_dispatching() -> None:
    parser = SseParser()
    assert parser.feed(b"id: 41\n\n") == []
    assert parser.last_event_id == "41"
    assert parser.feed(b"data: x\n\n") == [SseEvent("message", "x", "41")]


def test_an_id_in_an_event_cut_off_does_not_become_the_last_event_id() -> None:
    parser = SseParser()
    parser.feed(b"id: 1\ndata: a\n\nid: 2\ndata: b\n")
    assert parser.last_event_id == "1"


def test_retry_is_taken_only_when_all_ascii_digits() -> None:
    parser = SseParser()
    parser.feed(b"retry: 12x\n\nretry: 3000\n\nretry: 1.5\nretry: -1\nretry:\n")
    parser.feed("retry: \u0661\u0662\n\n".encode())
    assert parser.retry == 3000
    assert parser.feed(b"data: x\n\n") == [SseEvent("message", "x", "", 3000)]


def test_a_block_without_data_dispatches_nothing() -> None:
    assert events(b"event: ping\n\n") == []
    assert events(b": heartbeat\n\n: heartbeat\n\n") == []


def test_an_event_cut_off_by_the_end_of_the_stream_is_discarded() -> None:
    assert events(b"data: complete\n\ndata: cut") == [SseEvent("message", "complete", "")]
    assert events(b"data: complete\n\ndata: cut\n") == [SseEvent("message", "complete", "")]


def test_a_long_line_may_arrive_in_many_chunks() -> None:
    raw = b"data: " + b"x" * 100_000 + b"\n\n"
    chunks = [raw[i : i + 1000] for i in range(0, len(raw), 1000)]
    assert events(*chunks) == [SseEvent("message", "x" * 100_000, "")]


def reference(raw: bytes) -> tuple[list[SseEvent], str, int | None]:
    """The standard's algorithm read literally: decode, split lines, interpret one by one."""
    text = raw.decode("utf-8", "replace")
    text = text.removeprefix("\ufeff")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[:-1]
    found: list[SseEvent] = []
    data, kind, id_buffer, last_id, retry = "", "", "", "", None
    for line in lines:
        if line == "":
            last_id = id_buffer
            if data:
                found.append(SseEvent(kind or "message", data.removesuffix("\n"), last_id, retry))
            data, kind = "", ""
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data += value + "\n"
        elif name == "event":
            kind = value
        elif name == "id" and "\0" not in value:
            id_buffer = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            retry = int(value)
    return found, last_id, retry


PIECES = [
    b"data",
    b"data:",
    b"data: ",
    b"id: ",
    b"id:",
    b"event: ",
    b"retry: ",
    b":",
    b": comment",
    b" ",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"x",
    b"42",
    b"\x00",
    "é".encode(),
    "✓".encode(),
    "\ufeff".encode(),
    b"\xff",
    b"\xe2\x82",
]

streams = st.builds(
    lambda head, body: head + b"".join(body),
    st.sampled_from([b"", "\ufeff".encode()]),
    st.lists(st.sampled_from(PIECES), max_size=60),
)


def rechunk(raw: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(raw), *(c % (len(raw) + 1) for c in cuts)})
    return [raw[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=400, deadline=None)
@given(raw=streams, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20))
def test_any_rechunking_of_a_stream_yields_the_same_events(raw: bytes, cuts: list[int]) -> None:
    assert events(*rechunk(raw, cuts)) == events(raw) == one_byte_at_a_time(raw)


@settings(max_examples=400, deadline=None)
@given(raw=streams, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=20))
def test_the_parser_agrees_with_the_standards_algorithm(raw: bytes, cuts: list[int]) -> None:
    parser = SseParser()
    found = [event for chunk in rechunk(raw, cuts) for event in parser.feed(chunk)]
    assert (found, parser.last_event_id, parser.retry) == reference(raw)
