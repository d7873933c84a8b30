"""`convo serve` killed or stopped in the middle of an agent turn and started again: the turn
completes, and a client that reconnects ends with exactly the agent's answer, nothing lost or
repeated. The Agent Service is a separate `convo reference-agent` process that keeps running."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.test_serve import Service, start_service, stop

pytestmark = pytest.mark.e2e

CONVO = str(Path(sys.executable).with_name("convo"))
KEY = "restart-agent-key-" + "r" * 20
SECRET = "restart-jwt-secret-" + "s" * 20
# Long enough that the restarted service is still streaming the resumed turn when the client
# reconnects (about 5 s of the 15 ms pacing after the first 40 chunks): the client then rebuilds
# the answer from the stored snapshot and the resumed deltas, the path this test is about.
CHUNKS = 400


@pytest.fixture
async def agent_url() -> AsyncIterator[str]:
    process = await asyncio.create_subprocess_exec(
        CONVO, "reference-agent", "--host", "127.0.0.1", "--port", "0",
        env={
            **os.environ,
            "CONVO_AGENT_API_KEY": KEY,
            "CONVO_REFERENCE_AGENT_FIRST_EVENT_MS": "10",
            "CONVO_REFERENCE_AGENT_EVENT_DELAY_MS": "15",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    async with asyncio.timeout(30):
        line = (await process.stdout.readline()).decode()  # type: ignore[union-attr]
    url = re.search(r"serving on (http://127\.0\.0\.1:\d+)", line)
    assert url, line
    yield url.group(1)
    process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(process.wait(), 30)


class Reader:
    """A client's view of one reply, built only from live events: `message.created` carries
    the whole message (replace), `message.delta` appends; `message.completed` is kept apart,
    so that `text` is what the client rebuilt from snapshots and deltas."""

    def __init__(self, reply_id: str) -> None:
        self.reply_id = reply_id
        self.text = ""
        self.deltas = 0
        self.last_seq = 0
        self.completed: str | None = None

    def apply(self, event: dict[str, Any]) -> None:
        self.last_seq = max(self.last_seq, event["seq"])
        if event["message_id"] != self.reply_id:
            return
        if event["type"] == "message.created":
            self.text = event["data"]["message"]["content"]
        elif event["type"] == "message.delta":
            self.text += event["data"]["delta"]
            self.deltas += 1
        elif event["type"] == "message.completed":
            self.completed = event["data"]["message"]["content"]


async def follow(
    service: Service, http: aiohttp.ClientSession, conversation_id: str, since: int | None
) -> aiohttp.ClientWebSocketResponse:
    query = f"access_token={service.token}" + (f"&since={since}" if since is not None else "")
    url = f"{service.api}/conversations/{conversation_id}/ws?{query}".replace("http", "ws", 1)
    return await http.ws_connect(url)


@pytest.mark.parametrize(
    ("signum", "exit_code"),
    [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGTERM, 0)],
    ids=["killed", "stopped"],
)
async def test_a_turn_survives_the_service_being_killed_or_stopped_and_restarted(
    tmp_path: Path, agent_url: str, signum: signal.Signals, exit_code: int
) -> None:
    """Killed, the turn resumes from its last write; stopped, it first writes what it has and
    leaves the turn running for the next owner."""
    env = {"CONVO_AGENT_SERVICE_URL": agent_url, "CONVO_AGENT_API_KEY": KEY}
    expected = "".join(f"part {n} " for n in range(1, CHUNKS + 1))
    first = await start_service(tmp_path, SECRET, **env)
    async with aiohttp.ClientSession(headers=first.auth) as http:
        async with http.post(f"{first.api}/conversations", json={}) as response:
            conversation_id = (await response.json())["id"]
        ws = await follow(first, http, conversation_id, None)
        async with http.post(
            f"{first.api}/conversations/{conversation_id}/messages",
            json={"content": f"/agent long {CHUNKS}"},
        ) as response:
            reply = Reader((await response.json())["reply_id"])
        async with asyncio.timeout(30):
            while reply.deltas < 40:
                reply.apply(await ws.receive_json())
        seen_before_crash = reply.last_seq
        assert await stop(first, signum) == exit_code
        await ws.close()

        second = await start_service(tmp_path, SECRET, **env)
        ws = await follow(second, http, conversation_id, seen_before_crash)
        async with asyncio.timeout(60):
            while reply.completed is None:
                event = await ws.receive_json()
                assert event["seq"] > seen_before_crash  # no number is given twice
                reply.apply(event)
        await ws.close()
        async with http.get(
            f"{second.api}/conversations/{conversation_id}/messages", headers=second.auth
        ) as response:
            stored = (await response.json())["items"][-1]
    assert await stop(second) == 0

    assert reply.text == expected  # what the client rebuilt from deltas and snapshots
    assert reply.completed == expected
    assert (stored["id"], stored["content"], stored["status"]) == (
        reply.reply_id,
        expected,
        "complete",
    )
    assert "resuming agent turn" in second.log.decode()
