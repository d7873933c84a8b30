"""`convo serve --workers 2` as an operator runs it: one port, two worker processes on one
PostgreSQL database and one Redis, an agent turn reaching the clients of both, a worker that
dies replaced, and all of them stopped by one SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from entrypoints.reference_agent.server import RunningReferenceAgent
from tests.api.conftest import SECRET
from tests.conftest import REDIS_URL
from tests.e2e.conftest import agent_env
from tests.e2e.test_serve import Service, start_service, stop

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
async def service(
    tmp_path: Path,
    new_postgres_database: Callable[[], str],
    redis_prefix: str,
    reference_agent: RunningReferenceAgent,
) -> AsyncIterator[Service]:
    env = agent_env(
        reference_agent,
        CONVO_DATABASE_URL=new_postgres_database(),
        CONVO_REDIS_URL=REDIS_URL,
        CONVO_REDIS_PREFIX=redis_prefix,
    )
    running = await start_service(tmp_path, SECRET, workers=2, **env)
    yield running
    await stop(running)


async def test_a_turn_served_by_one_worker_reaches_clients_of_both(service: Service) -> None:
    assert "2 worker processes" in service.banner
    workers = await _workers(service, 2)
    async with aiohttp.ClientSession(headers=service.auth) as http:
        async with http.post(f"{service.api}/conversations", json={"title": "w"}) as response:
            conversation = f"{service.api}/conversations/{(await response.json())['id']}"
        sockets = await _sockets_on_every_worker(http, service, conversation, workers)
        async with http.post(
            f"{conversation}/messages", json={"content": "/agent search the handbook for vpn"}
        ) as response:
            assert response.status == 202
            reply_id = (await response.json())["reply_id"]
        received = [await _until_completed(ws) for ws in sockets]
        for ws in sockets:
            await ws.close()
        async with http.get(f"{conversation}/messages") as response:
            stored = {m["id"]: m for m in (await response.json())["items"]}[reply_id]

    first = received[0]
    assert all(events == first for events in received)
    assert [e["seq"] for e in first] == list(range(1, len(first) + 1))
    kinds = {e["type"] for e in first}
    assert {"agent.thinking", "agent.tool_started", "message.delta", "agent.completed"} <= kinds
    deltas = "".join(
        e["data"]["delta"]
        for e in first
        if e["type"] == "message.delta" and e["message_id"] == reply_id
    )
    assert deltas and stored["content"] == deltas and stored["status"] == "complete"


async def test_a_worker_that_dies_is_replaced_and_the_port_keeps_serving(
    service: Service,
) -> None:
    first, second = await _workers(service, 2)
    os.kill(first, signal.SIGKILL)
    async with asyncio.timeout(30):
        while first in (now := _children(service)) or len(now) < 2:
            await asyncio.sleep(0.1)
    assert second in now
    async with aiohttp.ClientSession(headers=service.auth) as http:
        for _ in range(4):
            async with http.post(f"{service.api}/conversations", json={"title": "x"}) as response:
                assert response.status == 201


async def test_sigterm_stops_every_worker_and_the_parent_cleanly(service: Service) -> None:
    workers = await _workers(service, 2)

    assert await stop(service) == 0
    assert not [pid for pid in workers if _cmdline(pid)]


async def _workers(service: Service, count: int) -> list[int]:
    """The worker processes, once `count` of them answer."""
    async with asyncio.timeout(30):
        while len(found := _children(service)) < count:
            await asyncio.sleep(0.1)
    return found


def _children(service: Service) -> list[int]:
    """Worker processes of the service (multiprocessing's resource tracker left out)."""
    pid = service.process.pid
    children = [
        int(child)
        for task in Path(f"/proc/{pid}/task").glob("*/children")
        for child in task.read_text().split()
    ]
    return [child for child in children if b"spawn_main" in _cmdline(child)]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


async def _sockets_on_every_worker(
    http: aiohttp.ClientSession, service: Service, conversation: str, workers: list[int]
) -> list[aiohttp.ClientWebSocketResponse]:
    """WebSockets to the conversation until every worker holds at least one: the kernel hands
    each connection to whichever worker accepts first."""
    url = conversation.replace("http", "ws", 1) + f"/ws?access_token={service.token}"
    sockets: list[aiohttp.ClientWebSocketResponse] = []
    served: set[int] = set()
    while served != set(workers):
        assert len(sockets) < 200, f"every connection went to workers {served}"
        ws = await http.ws_connect(url)
        sockets.append(ws)
        port = ws.get_extra_info("sockname")[1]
        served |= {pid for pid in workers if port in _peer_ports(pid)}
    return sockets


def _peer_ports(pid: int) -> set[int]:
    """The remote ports of the TCP connections process `pid` holds open."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[2].rsplit(":", 1)[1], 16))
    return ports


async def _until_completed(ws: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(20):
        while not events or events[-1]["type"] != "agent.completed":
            events.append(await ws.receive_json())
    return events
