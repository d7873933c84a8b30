"""The Agent Service's endpoints (docs/agent-service-contract.md)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

EXECUTE = "/api/v1/agent/execute"
HEALTH = "/health"


def session_path(session_id: str, tail: str = "") -> str:
    """`/api/v1/agent/sessions/{id}` plus `tail`; the id is opaque and quoted whole."""
    return f"/api/v1/agent/sessions/{quote(session_id, safe='')}{tail}"


def poll_path(session_id: str, after: int | None, wait_ms: int) -> str:
    query = {"wait_ms": wait_ms} if after is None else {"after": after, "wait_ms": wait_ms}
    return session_path(session_id, "/events?" + urlencode(query))
