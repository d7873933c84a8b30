"""Framing of server-sent events per the WHATWG HTML standard, §9.2."""

from adapters.sse.parser import SseEvent, SseParser, parse_all


def events(*chunks: bytes) -> list[SseEvent]:
    return parse_all(chunks)


def test_an_event_is_dispatched_on_a_blank_line() -> None:
    assert events(b"event: delta\nid: 7\ndata: hi\n\n") == [SseEvent("delta", "hi", "7")]


def test_cr_lf_and_crlf_all_end_lines() -> None:
    expected = [SseEvent("message", "a", ""), SseEvent("message", "b", "")]
    assert events(b"data: a\r\rdata: b\r\n\r\n") == expected
    assert events(b"data: a\n\ndata: b\r\n\r\n") == expected


def test_a_crlf_split_across_chunks_is_one_line_end() -> None:
    assert events(b"data: a\r", b"\n\r", b"\n") == [SseEvent("message", "a", "")]


def test_a_leading_bom_is_dropped_and_utf8_may_split_anywhere() -> None:
    raw = "\ufeffdata: héllo ✓\n\n".encode()
    assert events(*(raw[i : i + 1] for i in range(len(raw)))) == [
        SseEvent("message", "héllo ✓", "")
    ]


def test_multi_line_data_joins_with_newlines_and_comments_are_skipped() -> None:
    assert events(b": hi\ndata: one\ndata:two\n\n") == [SseEvent("message", "one\ntwo", "")]


def test_an_id_with_nul_is_ignored_and_the_last_id_carries_over() -> None:
    parsed = events(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
    assert [e.id for e in parsed] == ["1", "1"]


def test_retry_is_taken_only_when_all_digits() -> None:
    parser = SseParser()
    parser.feed(b"retry: 12x\n\nretry: 3000\n\n")
    assert parser.retry == 3000


def test_a_block_without_data_dispatches_nothing() -> None:
    assert events(b"event: ping\n\n") == []


def test_an_event_cut_off_by_the_end_of_the_stream_is_discarded() -> None:
    assert events(b"data: complete\n\ndata: cut") == [SseEvent("message", "complete", "")]
