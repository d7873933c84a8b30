"""The embedded default: the reference Agent Service started in this process, and the settings
the rest of the process gets with its URL and key."""

from __future__ import annotations

import aiohttp

from entrypoints.reference_agent_runner import start_embedded_agent
from entrypoints.settings import Secret, load_settings
from tests.contract.wire import AgentHttp


async def test_the_embedded_service_fills_in_its_url_and_the_configured_key() -> None:
    settings = load_settings({"CONVO_AGENT_API_KEY": "configured-key"})
    effective, running = await start_embedded_agent(settings)
    try:
        assert effective.agent_service_url == running.url
        assert running.url.startswith("http://127.0.0.1:")
        assert effective.agent_api_key == Secret("configured-key")
        async with aiohttp.ClientSession() as http:
            run = await AgentHttp(running.url, "configured-key", http).run("hello")
        assert run.last.event == "COMPLETE"
    finally:
        await running.close()


async def test_without_a_key_the_embedded_service_gets_one_made_for_the_run() -> None:
    effective, running = await start_embedded_agent(load_settings({}))
    try:
        assert effective.agent_api_key is not None
        key = effective.agent_api_key.reveal()
        assert len(key) >= 32 and key not in repr(effective)
        assert running.agent.config.api_key == key
    finally:
        await running.close()


async def test_the_embedded_service_takes_its_pacing_from_the_settings() -> None:
    settings = load_settings(
        {"CONVO_REFERENCE_AGENT_EVENT_DELAY_MS": "7", "CONVO_REFERENCE_AGENT_HEARTBEAT_S": "2.5"}
    )
    _, running = await start_embedded_agent(settings)
    try:
        config = running.agent.config
        assert (config.event_delay_ms, config.heartbeat_s, config.access_log) == (7, 2.5, False)
    finally:
        await running.close()
