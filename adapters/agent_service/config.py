"""Everything the Agent Service client can be told, with the defaults Story 7 asks for."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.agent_service.retry import BackoffSchedule, RetryPolicy


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentClientConfig:
    """How to reach the Agent Service and how patient to be with it.

    Timeouts: `connect_timeout_s` to open a connection; `headers_timeout_s` until a response's
    headers arrive; a stream is declared dead after `idle_heartbeats` heartbeat intervals
    without a byte; `stream_timeout_s` caps a whole run, reconnections and polling included;
    `request_timeout_s` bounds each status or poll call (a poll waits up to `poll_wait_s` for
    an event, so it must be shorter). The API key is never shown in the repr.
    """

    base_url: str
    api_key: str = field(repr=False)
    connect_timeout_s: float = 10.0
    headers_timeout_s: float = 60.0
    heartbeat_interval_s: float = 15.0
    idle_heartbeats: int = 3
    stream_timeout_s: float = 300.0
    request_timeout_s: float = 10.0
    health_timeout_s: float = 2.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    reconnect_attempts: int = 3
    reconnect_backoff: BackoffSchedule = field(default_factory=BackoffSchedule)
    poll_interval_s: float = 1.0
    poll_wait_s: float = 5.0
    poll_failures: int = 3
    pool_limit: int = 100
    pool_limit_per_host: int = 100
    user_agent: str = "convo-agent-client/0.1"

    def __post_init__(self) -> None:
        if self.poll_wait_s >= self.request_timeout_s:
            raise ValueError("poll_wait_s must be shorter than request_timeout_s")

    @property
    def idle_timeout_s(self) -> float:
        return self.heartbeat_interval_s * self.idle_heartbeats

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path
