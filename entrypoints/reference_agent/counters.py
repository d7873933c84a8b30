"""What the service did, readable by tests through `GET /reference/counters`."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(slots=True)
class Counters:
    execute_calls: int = 0
    runs_started: int = 0
    idempotent_attaches: int = 0
    stream_calls: int = 0
    poll_calls: int = 0
    status_calls: int = 0
    chat_calls: int = 0
    faults_applied: int = 0
    events_emitted: int = 0
    streams_open: int = 0
    streams_open_max: int = 0

    def stream_opened(self) -> None:
        self.streams_open += 1
        self.streams_open_max = max(self.streams_open_max, self.streams_open)

    def stream_closed(self) -> None:
        self.streams_open -= 1

    def reset(self) -> None:
        """Zero every count; current values (open streams) stay as they are."""
        open_now = self.streams_open
        for name in self.__slots__:
            setattr(self, name, 0)
        self.streams_open = self.streams_open_max = open_now

    def snapshot(self, sessions: int) -> dict[str, int]:
        return {**asdict(self), "sessions": sessions}
