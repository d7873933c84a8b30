"""`convo serve` as a user runs it: a real process on a loopback port, a message posted, the
streamed reply read over WebSocket and SSE, with a reconnect in the middle that loses nothing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import aiohttp
import pytest

from adapters.sql.engine import create_engine
from adapters.sql.tables import agent_dead_letters
from entrypoints.auth import issue_token, read_token
from entrypoints.database import revisions
from tests.e2e.conftest import SseReader

pytestmark = pytest.mark.e2e

CONVO = str(Path(sys.executable).with_name("convo"))


@dataclass
class Service:
    process: asyncio.subprocess.Process
    base_url: str
    token: str
    banner: str
    log: bytearray = field(default_factory=bytearray)
    draining: asyncio.Task[None] | None = None

    @property
    def api(self) -> str:
        return self.base_url + "/api/v1"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def start_service(
    directory: Path, secret: str | None = None, workers: int = 1, **env: str
) -> Service:
    """`convo serve --workers N` in `directory` (its SQLite file there unless `env` names
    another database). With `secret`, tokens are made with it (and survive a restart);
    without, the banner's dev token is used."""
    environment = {
        **os.environ,
        "CONVO_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'convo.db'}",
        "CONVO_ECHO_DELAY_MS": "30",
        **({"CONVO_JWT_SECRET": secret} if secret else {}),
        **env,
    }
    process = await asyncio.create_subprocess_exec(
        CONVO,
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--workers",
        str(workers),
        cwd=directory,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    banner = ""
    async with asyncio.timeout(60):
        while ("serving on" if secret else "curl ") not in banner:
            line = await process.stdout.readline()  # type: ignore[union-attr]
            if not line:
                raise AssertionError(
                    "convo serve exited: " + (await process.stderr.read()).decode()
                )  # type: ignore[union-attr]
            banner += line.decode()
    base_url = re.search(r"serving on (http://127\.0\.0\.1:\d+)", banner).group(1)  # type: ignore[union-attr]
    if secret:
        token = issue_token(secret, "dev", "dev")
    else:
        token = re.search(r"export TOKEN=(\S+)", banner).group(1)  # type: ignore[union-attr]
    service = Service(process, base_url, token, banner)
    service.draining = asyncio.ensure_future(_drain(process, service.log))
    async with aiohttp.ClientSession() as http, asyncio.timeout(30):
        while True:
            try:
                async with http.get(base_url + "/health/ready") as response:
                    if response.status == 200:
                        return service
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)


async def _drain(process: asyncio.subprocess.Process, into: bytearray) -> None:
    """Keep reading the process's log so that a full pipe never blocks it."""
    while chunk := await process.stderr.read(65536):  # type: ignore[union-attr]
        into.extend(chunk)


async def stop(service: Service, signum: int = signal.SIGTERM) -> int:
    if service.process.returncode is None:
        service.process.send_signal(signum)
    code = await asyncio.wait_for(service.process.wait(), 30)
    if service.draining is not None:
        await service.draining
    return code


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    running = await start_service(tmp_path)
    yield running
    await stop(running)


async def test_a_new_user_gets_a_streamed_reply_over_both_live_channels(
    service: Service,
) -> None:
    assert "curl -s -X POST" in service.banner
    async with aiohttp.ClientSession(headers=service.auth) as http:
        async with http.post(f"{service.api}/conversations", json={"title": "e2e"}) as response:
            conversation_id = (await response.json())["id"]
        base = f"{service.api}/conversations/{conversation_id}"
        words = " ".join(f"word{n}" for n in range(40))

        ws = await http.ws_connect(
            base.replace("http", "ws", 1) + f"/ws?access_token={service.token}"
        )
        sse = await http.get(f"{base}/events")
        sse_reader = SseReader(sse)
        async with http.post(f"{base}/messages", json={"content": words}) as response:
            assert response.status == 202
            reply_id = (await response.json())["reply_id"]

        ws_events = [await ws.receive_json() for _ in range(6)]
        await ws.close()
        sse_events = await sse_reader.until("message.delta")
        sse_events += await sse_reader.until("message.delta")
        sse.close()

        ws = await http.ws_connect(
            base.replace("http", "ws", 1) + f"/ws?since={ws_events[-1]['seq']}",
            headers=service.auth,
        )
        while ws_events[-1]["type"] != "message.completed":
            ws_events.append(await asyncio.wait_for(ws.receive_json(), 10))
        await ws.close()
        async with http.get(
            f"{base}/events", headers={"Last-Event-ID": str(sse_events[-1]["seq"])}
        ) as resumed:
            sse_events += await SseReader(resumed).until("message.completed")

        async with http.get(f"{base}/messages") as response:
            stored = (await response.json())["items"][-1]

    expected = f"Echo: {words}"
    for events in (ws_events, sse_events):
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert (
            "".join(e["data"]["delta"] for e in events if e["type"] == "message.delta") == expected
        )
    assert ws_events == sse_events
    assert (stored["id"], stored["content"], stored["status"]) == (reply_id, expected, "complete")


async def test_a_stopped_service_exits_cleanly_and_keeps_no_secret_in_its_logs(
    service: Service,
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{service.api}/conversations", params={"access_token": service.token}
        ) as response:
            assert response.status == 401
        async with http.get(f"{service.api}/conversations", headers=service.auth) as response:
            assert response.status == 200
    assert await stop(service) == 0
    logs = service.log.decode()
    assert "Application shutdown complete" in logs
    assert service.token not in logs
    assert "access_token=[redacted]" in logs


async def test_an_invalid_setting_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        CONVO,
        "serve",
        "--port",
        "0",
        cwd=tmp_path,
        env={**os.environ, "CONVO_ECHO_DELAY_MS": "fast"},
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert "CONVO_ECHO_DELAY_MS: expected an integer" in stderr.decode()


async def test_cleanup_once_runs_every_job_and_reports_counts(tmp_path: Path) -> None:
    env = {**os.environ, "CONVO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"}
    migrate = await asyncio.create_subprocess_exec(
        CONVO, "db", "upgrade", cwd=tmp_path, env=env, stdout=asyncio.subprocess.DEVNULL
    )
    assert await asyncio.wait_for(migrate.wait(), 60) == 0
    process = await asyncio.create_subprocess_exec(
        CONVO,
        "cleanup",
        "--once",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    assert "prune_replay_buffers: 0" in stdout.decode()
    assert "expire_agent_sessions: 0" in stdout.decode()


async def test_dlq_list_prints_the_newest_dead_letters_as_json_lines(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    environment = {**os.environ, "CONVO_DATABASE_URL": url}
    migrate = await asyncio.create_subprocess_exec(CONVO, "db", "upgrade", env=environment)
    assert await migrate.wait() == 0
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            agent_dead_letters.insert().values(
                id=UUID(int=1),
                conversation_id=UUID(int=2),
                error_kind="agent_error",
                error_code="tool_failed",
                error_message="the tool failed",
                retryable=False,
                request={"input": "search"},
                created_at=datetime.now(UTC),
            )
        )
    await engine.dispose()
    process = await asyncio.create_subprocess_exec(
        CONVO, "dlq", "list", "--limit", "5", env=environment,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    [line] = stdout.decode().splitlines()
    letter = json.loads(line)
    assert (letter["error_code"], letter["request"]) == ("tool_failed", {"input": "search"})


async def run_convo(*arguments: str, **env: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        CONVO, *arguments, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_convo_token_prints_a_token_for_the_configured_secret() -> None:
    secret = "token-cli-secret-" + "z" * 20
    code, out, _ = await run_convo(
        "token", "--user", "u1", "--org", "o1", "--permission", "convo:admin",
        CONVO_JWT_SECRET=secret,
    )  # fmt: skip
    assert code == 0
    principal = read_token(secret, out.strip())
    assert (principal.owner.user_id, principal.owner.org_id) == ("u1", "o1")
    assert principal.may("convo:admin")
    code, _, err = await run_convo("token", "--user", "u1", "--org", "o1", CONVO_JWT_SECRET="")
    assert code == 2 and "CONVO_JWT_SECRET is not set" in err


async def test_convo_db_moves_the_schema_up_and_down_and_says_where_it_is(tmp_path: Path) -> None:
    env = {"CONVO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"}
    newest, previous = revisions(env["CONVO_DATABASE_URL"])[-1:-3:-1]
    code, out, _ = await run_convo("db", "current", **env)
    assert code == 0 and "none (empty)" in out
    code, out, _ = await run_convo("db", "upgrade", **env)
    assert code == 0 and out.strip().endswith(f"revision {newest}")
    code, out, _ = await run_convo("db", "downgrade", **env)
    assert code == 0 and out.strip().endswith(f"revision {previous}")
    code, out, _ = await run_convo("db", "downgrade", "base", **env)
    assert code == 0 and "none (empty)" in out
    code, _, err = await run_convo(
        "db", "upgrade", CONVO_DATABASE_URL="postgresql://nobody@127.0.0.1:1/x"
    )
    assert code == 1 and "database postgresql+asyncpg://nobody@127.0.0.1:1/x" in err
