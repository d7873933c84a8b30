"""The Agent Service client: HTTP calls, resilient SSE consumption, wire-to-domain mapping."""

from adapters.agent_service.client import AgentServiceClient
from adapters.agent_service.config import AgentClientConfig
from adapters.agent_service.retry import BackoffSchedule, RetryPolicy

__all__ = ["AgentClientConfig", "AgentServiceClient", "BackoffSchedule", "RetryPolicy"]
