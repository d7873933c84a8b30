"""The composition root hands out the Agent Service client as the AgentGateway."""

from __future__ import annotations

import socket

import pytest

from adapters.agent_service import AgentServiceClient
from application.ports.agent_gateway import (
    AgentGateway,
    AgentTurnRequest,
    AgentUnavailable,
    UserContext,
)
from domain.agent_events import TurnCompleted
from entrypoints.container import build_container
from entrypoints.container.adapters import agent_client_config
from entrypoints.container.lifecycle import close_resources
from entrypoints.reference_agent_runner import start_embedded_agent
from entrypoints.settings import SettingsError, load_settings

KEY = "wiring-key-7d1e"


def agent_settings(**env: str):  # type: ignore[no-untyped-def]
    return load_settings(
        {"CONVO_AGENT_SERVICE_URL": "http://agents:8080", "CONVO_AGENT_API_KEY": KEY, **env}
    )


def test_every_agent_setting_reaches_the_client_config() -> None:
    config = agent_client_config(
        agent_settings(
            CONVO_AGENT_CONNECT_TIMEOUT_S="3",
            CONVO_AGENT_HEADERS_TIMEOUT_S="30",
            CONVO_AGENT_HEARTBEAT_INTERVAL_S="5",
            CONVO_AGENT_STREAM_TIMEOUT_S="120",
            CONVO_AGENT_REQUEST_TIMEOUT_S="8",
            CONVO_AGENT_UNAVAILABLE_RETRIES="2",
            CONVO_AGENT_SERVER_ERROR_RETRIES="0",
            CONVO_AGENT_BACKOFF_BASE_S="0.5",
            CONVO_AGENT_BACKOFF_JITTER="0.1",
            CONVO_AGENT_MAX_RETRY_AFTER_S="12",
            CONVO_AGENT_RECONNECT_ATTEMPTS="4",
            CONVO_AGENT_POLL_INTERVAL_S="2",
            CONVO_AGENT_POLL_WAIT_S="4",
            CONVO_HTTP_POOL_SIZE="50",
            CONVO_HTTP_POOL_SIZE_PER_HOST="20",
        )
    )
    assert (config.base_url, config.api_key) == ("http://agents:8080", KEY)
    assert (config.connect_timeout_s, config.headers_timeout_s) == (3, 30)
    assert (config.idle_timeout_s, config.stream_timeout_s, config.request_timeout_s) == (
        15,
        120,
        8,
    )
    assert (config.retry.unavailable_retries, config.retry.server_error_retries) == (2, 0)
    assert (config.retry.backoff.base_s, config.retry.backoff.jitter) == (0.5, 0.1)
    assert config.retry.max_retry_after_s == 12
    assert (config.reconnect_attempts, config.reconnect_backoff.base_s) == (4, 0.5)
    assert (config.poll_interval_s, config.poll_wait_s) == (2, 4)
    assert (config.pool_limit, config.pool_limit_per_host) == (50, 20)
    assert KEY not in repr(config)


def test_a_poll_wait_as_long_as_the_request_timeout_is_refused() -> None:
    with pytest.raises(SettingsError, match="CONVO_AGENT_POLL_WAIT_S: expected less than"):
        agent_settings(CONVO_AGENT_POLL_WAIT_S="10")


def test_without_an_agent_service_url_the_gateway_says_why() -> None:
    with pytest.raises(RuntimeError, match="CONVO_AGENT_SERVICE_URL is not set"):
        agent_client_config(load_settings({}))


async def test_the_gateway_shares_the_process_http_session_with_its_pool_limits() -> None:
    container = build_container(agent_settings(CONVO_HTTP_POOL_SIZE="30"))
    gateway = container.adapters.agent_gateway()
    assert isinstance(gateway, AgentServiceClient) and AgentGateway in type(gateway).__mro__
    assert gateway is container.adapters.agent_gateway()
    session = container.infrastructure.http()
    assert session.connector is not None and session.connector.limit == 30
    assert session.timeout.total is None
    await close_resources(container, grace_s=0)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_the_gateway_counts_into_the_process_metrics() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    settings = agent_settings(CONVO_AGENT_SERVICE_URL=url, CONVO_AGENT_BACKOFF_BASE_S="0.01")
    container = build_container(settings)
    turn = AgentTurnRequest("default", "hi", [], UserContext("u", "o"))
    with pytest.raises(AgentUnavailable, match="unreachable"):
        async for _ in container.adapters.agent_gateway().execute_agent(turn):
            pass
    exposition = container.infrastructure.metrics().exposition().decode()
    assert 'convo_agent_client_retries_total{call="execute",reason="connection"} 3.0' in exposition
    await close_resources(container, grace_s=0)


async def test_the_wired_gateway_runs_a_turn_on_the_embedded_reference_service() -> None:
    plain = load_settings(
        {"CONVO_REFERENCE_AGENT_FIRST_EVENT_MS": "1", "CONVO_REFERENCE_AGENT_EVENT_DELAY_MS": "1"}
    )
    settings, embedded = await start_embedded_agent(plain)
    container = build_container(settings)
    try:
        turn = AgentTurnRequest("default", "search the docs", [], UserContext("u", "o"))
        events = [event async for event in container.adapters.agent_gateway().execute_agent(turn)]
        assert isinstance(events[-1], TurnCompleted)
        assert await container.adapters.agent_gateway().health()
    finally:
        await close_resources(container, grace_s=0)
        await embedded.close()
