"""A worker process for the get-or-create race: starts `count` agent turns for one
conversation at once, after the parent says "go", and prints one JSON line per outcome.

Usage: python -m tests.integration.first_messages_worker DATABASE_URL CONVERSATION_ID COUNT
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from contextlib import AsyncExitStack
from datetime import timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.unit_of_work import SqlUnitOfWork
from adapters.system.clock import SystemClock
from adapters.system.ids import Uuid7Generator
from application.agent_sessions import AgentTurn
from application.history_builder import HistoryBuilder
from application.use_cases.start_agent_turn import StartAgentTurn, StartTurnCommand
from domain.agent_sessions import TurnAlreadyRunning
from domain.conversations import Owner, Principal
from domain.history import WindowPolicy
from tests.fakes.delegation import FirstWordsSummarizer, ScriptedAgentGateway, WordCounter

OWNER = Principal(Owner("acme", "alice"))


async def warm(engine: AsyncEngine, count: int) -> None:
    """Open every pooled connection first, so that on "go" all turns race for the session
    rather than for connections."""
    async with AsyncExitStack() as stack:
        await asyncio.gather(*(stack.enter_async_context(engine.connect()) for _ in range(count)))


async def main(url: str, conversation_id: UUID, count: int) -> None:
    engine = create_engine(url, pool_size=count)
    uow = lambda: SqlUnitOfWork(engine)  # noqa: E731
    history = HistoryBuilder(WordCounter(), FirstWordsSummarizer(), WindowPolicy(), 100)
    gateway = ScriptedAgentGateway()
    start = StartAgentTurn(
        uow, SystemClock(), Uuid7Generator(), gateway, history, "default", timedelta(seconds=60)
    )
    await warm(engine, count)
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)

    async def one() -> dict[str, str]:
        command = StartTurnCommand(
            OWNER, conversation_id, uuid.uuid4(), uuid.uuid4(), "/agent search"
        )
        try:
            turn: AgentTurn = await start.execute(command)
        except TurnAlreadyRunning as busy:
            return {"outcome": "busy", "session": str(busy.session_id)}
        return {"outcome": "started", "session": str(turn.session.id), "opened": turn.opened}

    for result in await asyncio.gather(*(one() for _ in range(count))):
        print(json.dumps(result), flush=True)
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], UUID(sys.argv[2]), int(sys.argv[3])))
