"""What the reference Agent Service needs to run: its key, pacing and memory bounds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferenceAgentConfig:
    """Pacing and bounds of one reference service. The key is the only one it accepts."""

    api_key: str = field(repr=False)
    first_event_ms: int = 200
    event_delay_ms: int = 40
    heartbeat_s: float = 15.0
    question_ttl_s: float = 300.0
    session_ttl_s: float = 3600.0
    max_sessions: int = 10_000
    max_log_events: int = 50_000
    access_log: bool = True

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("the reference Agent Service needs a non-empty API key")
