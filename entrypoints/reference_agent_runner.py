"""convo's settings turned into a reference Agent Service: `convo reference-agent`, and the
embedded default of `convo serve` when no Agent Service URL is configured."""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys

import msgspec

from entrypoints.logs import configure_logging
from entrypoints.reference_agent import (
    ReferenceAgentConfig,
    RunningReferenceAgent,
    serve_until_stopped,
    start_reference_agent,
)
from entrypoints.settings import Secret, Settings, env_name

log = logging.getLogger("convo")

EMBEDDED_HOST = "127.0.0.1"


def reference_config(settings: Settings, api_key: str, access_log: bool) -> ReferenceAgentConfig:
    return ReferenceAgentConfig(
        api_key=api_key,
        first_event_ms=settings.reference_agent_first_event_ms,
        event_delay_ms=settings.reference_agent_event_delay_ms,
        heartbeat_s=settings.reference_agent_heartbeat_s,
        question_ttl_s=settings.reference_agent_question_ttl_s,
        session_ttl_s=settings.reference_agent_session_ttl_s,
        max_sessions=settings.reference_agent_max_sessions,
        access_log=access_log,
    )


def run_reference_agent(settings: Settings, host: str, port: int) -> int:
    """`convo reference-agent`: refuses to start without a key, since it would accept anyone."""
    if settings.agent_api_key is None or not settings.agent_api_key.reveal():
        print(
            f"convo: {env_name('agent_api_key')} is not set: the reference Agent Service accepts "
            "only callers that send that key as X-API-Key; set it (the client reads the same "
            "variable) and start again",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings.log_level)
    config = reference_config(settings, settings.agent_api_key.reveal(), access_log=True)
    try:
        asyncio.run(serve_until_stopped(config, host, port))
    except OSError as error:
        print(f"convo: cannot listen on {host}:{port}: {error.strerror}", file=sys.stderr)
        return 1
    return 0


async def start_embedded_agent(settings: Settings) -> tuple[Settings, RunningReferenceAgent]:
    """Start the reference Agent Service in this process on a free loopback port. Returns the
    settings the rest of the process should use (its URL and key filled in) and the service."""
    given = settings.agent_api_key.reveal() if settings.agent_api_key else ""
    made_key = not given
    key = given or secrets.token_urlsafe(32)
    running = await start_reference_agent(
        reference_config(settings, key, access_log=False), EMBEDDED_HOST, 0
    )
    log.info(
        "%s is not set: started the bundled reference Agent Service on %s%s",
        env_name("agent_service_url"),
        running.url,
        f" with an API key made for this run ({env_name('agent_api_key')} is not set)"
        if made_key
        else "",
    )
    effective = msgspec.structs.replace(
        settings, agent_service_url=running.url, agent_api_key=Secret(key)
    )
    return effective, running
