"""An incremental server-sent events parser over bytes, per the WHATWG HTML standard §9.2.

https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

The parser works on whole lines: each fed chunk is joined to the unfinished line kept from the
previous one, every complete line is decoded and interpreted, and the rest waits. Line ends are
normalised to LF on bytes before splitting (CR and CRLF only ever end lines), so the common
LF-only stream is split by one `bytes.rfind` and one `str.split` per chunk.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

_BOM = b"\xef\xbb\xbf"


class SseEvent(msgspec.Struct, frozen=True, gc=False):
    """One dispatched event: its type (`message` when none was given), its data lines joined
    by LF, the last event ID in effect, and the reconnection time in effect (ms) if any."""

    event: str
    data: str
    id: str
    retry: int | None = None


class SseParser:
    """Feed it bytes as they arrive, in chunks of any size; it returns each complete event.

    Conforms to the standard's interpretation rules: CR, LF and CRLF line ends (a CR at the end
    of one chunk and an LF at the start of the next are one line end); one leading BOM dropped;
    UTF-8 reassembled across chunks and invalid sequences replaced by U+FFFD; lines starting
    with a colon are comments; a field name without a colon has an empty value; one space after
    the colon is dropped; `data` lines join with LF; an `id` containing NUL is ignored and the
    last event ID carries over to later events; `retry` is taken only when all ASCII digits;
    unknown fields are ignored; a block without data dispatches nothing; an event still open
    when the stream ends is never returned.
    """

    __slots__ = (
        "_data",
        "_event",
        "_head",
        "_id_buffer",
        "_last_id",
        "_pending",
        "_skip_lf",
        "retry",
    )

    def __init__(self) -> None:
        self._head: bytes | None = b""
        self._pending: list[bytes] = []
        self._skip_lf = False
        self._data: list[str] = []
        self._event = ""
        self._id_buffer = ""
        self._last_id = ""
        self.retry: int | None = None

    @property
    def last_event_id(self) -> str:
        """The last event ID string: what a reconnecting client sends as `Last-Event-ID`."""
        return self._last_id

    def feed(self, chunk: bytes) -> list[SseEvent]:
        if self._head is not None:
            chunk = self._drop_bom(chunk)
        if self._skip_lf and chunk:
            self._skip_lf = False
            if chunk[0] == 10:
                chunk = chunk[1:]
        if 13 in chunk:
            self._skip_lf = chunk[-1] == 13
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if self._pending:
            return self._joined(chunk)
        if chunk.endswith(b"\n"):
            lines = chunk.decode("utf-8", "replace").split("\n")
            lines.pop()
            return self._interpret(lines)
        end = chunk.rfind(b"\n")
        if end < 0:
            if chunk:
                self._pending.append(chunk)
            return []
        self._pending.append(chunk[end + 1 :])
        return self._interpret(chunk[:end].decode("utf-8", "replace").split("\n"))

    def _joined(self, chunk: bytes) -> list[SseEvent]:
        """Complete the unfinished line kept from earlier chunks."""
        end = chunk.rfind(b"\n")
        if end < 0:
            if chunk:
                self._pending.append(chunk)
            return []
        self._pending.append(chunk[:end])
        complete = b"".join(self._pending)
        self._pending = [chunk[end + 1 :]] if end + 1 < len(chunk) else []
        return self._interpret(complete.decode("utf-8", "replace").split("\n"))

    def _drop_bom(self, chunk: bytes) -> bytes:
        """Hold the stream's first bytes until they can be told apart from a BOM."""
        head = (self._head or b"") + chunk
        if len(head) < 3 and _BOM.startswith(head):
            self._head = head
            return b""
        self._head = None
        return head[3:] if head.startswith(_BOM) else head

    def _interpret(self, lines: list[str]) -> list[SseEvent]:
        events: list[SseEvent] = []
        data = self._data
        for line in lines:
            if not line:
                self._last_id = self._id_buffer
                if data:
                    events.append(
                        SseEvent(
                            self._event or "message",
                            data[0] if len(data) == 1 else "\n".join(data),
                            self._last_id,
                            self.retry,
                        )
                    )
                    data = self._data = []
                self._event = ""
            elif line[0] != ":":
                name, _, value = line.partition(":")
                if value[:1] == " ":
                    value = value[1:]
                if name == "data":
                    data.append(value)
                elif name == "id":
                    if "\0" not in value:
                        self._id_buffer = value
                elif name == "event":
                    self._event = value
                elif name == "retry" and value.isascii() and value.isdigit():
                    self.retry = int(value)
        return events


def parse_all(chunks: Iterable[bytes]) -> list[SseEvent]:
    """Every complete event of a finished stream."""
    parser = SseParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]
