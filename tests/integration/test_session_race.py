"""Risk 5: concurrent first agent messages for one conversation, from two OS processes, leave
exactly one live session. The losers join the winner's session (ADR 0007): with its turn
running, they are told so (TurnAlreadyRunning), never given a second session."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import func, select

from adapters.sql.engine import create_engine
from adapters.sql.tables import conversation_agent_sessions
from adapters.sql.unit_of_work import SqlUnitOfWork
from domain.conversations import Conversation, Owner
from tests.conftest import BACKENDS, empty_database

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]
PROCESSES, PER_PROCESS = 2, 10


def spawn(url: str, conversation_id: UUID) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.first_messages_worker",
            url,
            str(conversation_id),
            str(PER_PROCESS),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("backend", BACKENDS)
async def test_twenty_first_messages_from_two_processes_leave_one_live_session(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = await empty_database(request, backend, tmp_path)
    engine = create_engine(url)
    conversation = Conversation.start(UUID(int=1), Owner("acme", "alice"), "race", T0)
    async with SqlUnitOfWork(engine) as uow:
        await uow.conversations.add(conversation)
        await uow.commit()
    workers = [spawn(url, conversation.id) for _ in range(PROCESSES)]
    for worker in workers:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outcomes = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        outcomes += [json.loads(line) for line in out.splitlines() if line.strip()]
    async with engine.connect() as connection:
        sessions = (await connection.execute(select(conversation_agent_sessions))).all()
        live = await connection.scalar(
            select(func.count()).where(conversation_agent_sessions.c.status == "ACTIVE")
        )
    await engine.dispose()
    assert len(outcomes) == PROCESSES * PER_PROCESS
    assert len(sessions) == 1 and live == 1
    assert {o["session"] for o in outcomes} == {str(sessions[0].id)}
    started = [o for o in outcomes if o["outcome"] == "started"]
    assert len(started) == 1 and started[0]["opened"] is True
