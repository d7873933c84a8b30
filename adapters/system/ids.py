import os
import threading
import time
from uuid import UUID

from application.ports.ids import IdGenerator


class Uuid7Generator(IdGenerator):
    """RFC 9562 UUIDv7: a millisecond timestamp, then a 12-bit counter (method 1 of the RFC) so
    that ids made in the same millisecond still sort in the order they were made."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def new_id(self) -> UUID:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms > self._last_ms:
                self._last_ms, self._counter = ms, int.from_bytes(os.urandom(2)) & 0x3FF
            else:
                self._counter += 1
                if self._counter > 0xFFF:
                    self._last_ms, self._counter = self._last_ms + 1, 0
            ms = self._last_ms
            counter = self._counter
        tail = int.from_bytes(os.urandom(8)) & ((1 << 62) - 1)
        value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | tail
        return UUID(int=value)
