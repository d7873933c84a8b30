"""`convo reference-agent` and the embedded default of `convo serve`, as real processes."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.contract.wire import AgentHttp, body
from tests.e2e.test_serve import Service, start_service
from tests.e2e.test_serve import stop as stop_serve

pytestmark = pytest.mark.e2e

CONVO = str(Path(sys.executable).with_name("convo"))
KEY = "e2e-agent-key"


async def stop(process: asyncio.subprocess.Process) -> str:
    """SIGTERM, a clean exit, and everything it wrote to stderr."""
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 30) == 0
    return (await process.stderr.read()).decode()  # type: ignore[union-attr]


async def stop_service(service: Service) -> str:
    """Stop `convo serve` cleanly; everything it logged."""
    assert await stop_serve(service) == 0
    return service.log.decode()


async def check_agent(url: str, key: str) -> None:
    """The service at `url` takes `key` and runs a turn, and refuses callers without it."""
    async with aiohttp.ClientSession() as http:
        agent = AgentHttp(url, key, http)
        run = await agent.run("search the docs")
        assert run.last.event == "COMPLETE"
        refused = await AgentHttp(url, "not-the-key", http).execute(body("search"))
        assert refused.status == 401


@pytest.fixture
async def standalone(tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    process = await asyncio.create_subprocess_exec(
        CONVO,
        "reference-agent",
        "--port",
        "0",
        cwd=tmp_path,
        env={**os.environ, "CONVO_AGENT_API_KEY": KEY, "CONVO_REFERENCE_AGENT_EVENT_DELAY_MS": "5"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    line = await asyncio.wait_for(process.stdout.readline(), 30)  # type: ignore[union-attr]
    match = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line.decode())
    assert match, line
    yield process, match.group(1)
    if process.returncode is None:
        process.kill()
        await process.wait()


async def test_the_reference_agent_command_serves_the_contract_with_its_key(
    standalone: tuple[asyncio.subprocess.Process, str],
) -> None:
    process, url = standalone
    await check_agent(url, KEY)
    logs = await stop(process)
    assert "POST /api/v1/agent/execute" in logs
    assert KEY not in logs


async def test_the_reference_agent_command_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "CONVO_AGENT_API_KEY"}
    process = await asyncio.create_subprocess_exec(
        CONVO,
        "reference-agent",
        "--port",
        "0",
        cwd=tmp_path,
        env=environment,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert "CONVO_AGENT_API_KEY is not set" in stderr.decode()


async def test_serve_without_an_agent_url_starts_the_reference_service_on_loopback(
    tmp_path: Path,
) -> None:
    service = await start_service(tmp_path, CONVO_AGENT_API_KEY=KEY)
    match = re.search(r"Agent Service: (http://127\.0\.0\.1:\d+) \(the bundled", service.banner)
    assert match, service.banner

    await check_agent(match.group(1), KEY)

    logs = await stop_service(service)
    assert f"started the bundled reference Agent Service on {match.group(1)}" in logs
    assert KEY not in logs + service.banner


async def test_serve_makes_a_key_for_the_embedded_service_when_none_is_set(
    tmp_path: Path,
) -> None:
    service = await start_service(tmp_path, CONVO_AGENT_API_KEY="")
    url = re.search(r"Agent Service: (http://\S+)", service.banner).group(1)  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/health") as response:
            assert response.status == 200
        for key in (None, ""):
            headers = {} if key is None else {"X-API-Key": key}
            async with http.post(
                url + "/api/v1/agent/execute", json=body("hello"), headers=headers
            ) as response:
                assert response.status == 401
    logs = await stop_service(service)
    assert "with an API key made for this run" in logs


async def test_serve_with_an_agent_url_starts_no_reference_service(tmp_path: Path) -> None:
    service = await start_service(
        tmp_path, CONVO_AGENT_SERVICE_URL="http://127.0.0.1:9", CONVO_AGENT_API_KEY=KEY
    )
    assert "Agent Service: http://127.0.0.1:9 (configured)" in service.banner
    logs = await stop_service(service)
    assert "reference Agent Service" not in logs
