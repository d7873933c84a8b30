"""An incremental server-sent events parser over bytes, per the WHATWG HTML standard §9.2."""

from __future__ import annotations

import codecs
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SseEvent:
    event: str
    data: str
    id: str
    retry: int | None = None


class SseParser:
    """Feed it bytes as they arrive, in chunks of any size; it returns each complete event.

    Line ends may be CR, LF or CRLF (a CR at the end of one chunk and an LF at the start of the
    next are one line end); a leading BOM is dropped; UTF-8 split across chunks is reassembled.
    An event still open when the stream ends is never returned.
    """

    __slots__ = (
        "_data",
        "_decoder",
        "_event",
        "_last_id",
        "_pending",
        "_saw_cr",
        "_started",
        "retry",
    )

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._saw_cr = False
        self._started = False
        self._data: list[str] = []
        self._event = ""
        self._last_id = ""
        self.retry: int | None = None

    @property
    def last_event_id(self) -> str:
        return self._last_id

    def feed(self, chunk: bytes) -> list[SseEvent]:
        text = self._decoder.decode(chunk)
        if not self._started and text:
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        return self._lines(text)

    def _lines(self, text: str) -> list[SseEvent]:
        if self._saw_cr and text.startswith("\n"):
            text = text[1:]
        self._saw_cr = False
        buffer = self._pending + text
        if "\r" in buffer:
            self._saw_cr = buffer.endswith("\r")
            buffer = buffer.replace("\r\n", "\n").replace("\r", "\n")
        *lines, self._pending = buffer.split("\n")
        return [event for line in lines if (event := self._line(line)) is not None]

    def _line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line[0] == ":":
            return None
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SseEvent(self._event or "message", "\n".join(self._data), self._last_id, self.retry)
        self._data = []
        self._event = ""
        return event


def parse_all(chunks: Iterable[bytes]) -> list[SseEvent]:
    """Every complete event of a finished stream."""
    parser = SseParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]
