"""The reference Agent Service: a faithful, self-contained stand-in for the Agent Service.

It implements docs/agent-service-contract.md with a scripted ReAct engine and fault injection,
over aiohttp.web for byte-level control of the wire. It is a separate service in spirit: it
imports nothing from convo's domain, application or adapters (an import-linter contract).
"""

from entrypoints.reference_agent.app import create_app
from entrypoints.reference_agent.config import ReferenceAgentConfig
from entrypoints.reference_agent.server import (
    RunningReferenceAgent,
    serve_until_stopped,
    start_reference_agent,
)

__all__ = [
    "ReferenceAgentConfig",
    "RunningReferenceAgent",
    "create_app",
    "serve_until_stopped",
    "start_reference_agent",
]
