from __future__ import annotations

import asyncio

import pytest

from entrypoints.reference_agent.log import EventLog, EventsExpired


def filled(log: EventLog, kinds: str) -> EventLog:
    for kind in kinds:
        log.append(kind, b"{}", kind == "T")
    return log


def test_ids_start_at_one_and_increase_by_one() -> None:
    log = filled(EventLog(100), "aaT")
    assert [e.id for e in log.after(0)] == [1, 2, 3]
    assert log.last_id == 3


def test_reading_stops_at_the_next_terminal_event() -> None:
    log = filled(EventLog(100), "aTbbT")
    assert [e.id for e in log.after(0)] == [1, 2]
    assert [e.id for e in log.after(2)] == [3, 4, 5]
    assert [e.id for e in log.after(3, limit=1)] == [4]
    assert log.after(5) == []


def test_a_frame_is_one_server_sent_event() -> None:
    event = EventLog(10).append("THOUGHT", b'{"text":"hi"}', False)
    assert event.frame == b'id: 1\nevent: THOUGHT\ndata: {"text":"hi"}\n\n'


def test_the_log_keeps_only_its_newest_events() -> None:
    log = filled(EventLog(8), "a" * 20)
    assert log.last_id == 20
    assert not log.holds_after(0)
    with pytest.raises(EventsExpired):
        log.after(0)
    held = [e.id for e in log.after(log.last_id - 8)]
    assert held == list(range(13, 21))


async def test_a_reader_waits_until_an_event_arrives() -> None:
    log = EventLog(10)
    waiting = asyncio.ensure_future(log.wait_beyond(0, 5))
    await asyncio.sleep(0)
    assert not waiting.done()
    log.append("a", b"{}", False)
    assert await waiting is True


async def test_a_reader_gives_up_after_its_timeout() -> None:
    assert await EventLog(10).wait_beyond(0, 0.01) is False


async def test_many_readers_wake_on_one_append() -> None:
    log = EventLog(10)
    readers = [asyncio.ensure_future(log.wait_beyond(0, 5)) for _ in range(50)]
    await asyncio.sleep(0)
    log.append("a", b"{}", False)
    assert await asyncio.gather(*readers) == [True] * 50
