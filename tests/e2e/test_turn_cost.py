"""What an agent turn costs the database, counted (not timed): a budget that keeps the turn
from growing back a transaction at a time. Writes during the stream are switched off, so what
is counted is the turn's fixed cost: storing and routing the message, announcing it, starting
and claiming the turn with its history, and the turn's end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from entrypoints.container import Container
from entrypoints.reference_agent.server import RunningReferenceAgent
from tests.e2e.conftest import LiveServer, LiveSocket, agent_env, running_server

NO_WRITES_DURING_THE_STREAM = {
    "CONVO_REPLY_FLUSH_INTERVAL_MS": "60000",
    "CONVO_REPLY_FLUSH_CHARS": "100000000",
}


class Tally:
    """Transactions begun and statements run on the container's engine while `counting`.
    The listeners are attached before the app starts: attached later, they could land while
    SQLAlchemy iterates them around a BEGIN IMMEDIATE that awaits (SQLite)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.counts: Counter[str] | None = None
        self._monkeypatch = monkeypatch

    def attach(self, container: Container) -> None:
        engine: AsyncEngine = container.infrastructure.engine()
        event.listen(engine.sync_engine, "begin", self._count("transactions"))
        event.listen(engine.sync_engine, "before_cursor_execute", self._count("statements"))
        self._count_writes_on_the_thread()

    def _count_writes_on_the_thread(self) -> None:
        """SQLite's hot writes run as one function on the connection's thread, past the
        engine's events (adapters/sql/sqlite_thread.py): each is a transaction."""
        trip, count = aiosqlite.Connection._execute, self._count("transactions")

        async def counted(
            connection: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any
        ) -> Any:
            if getattr(fn, "__name__", None) == "_in_transaction":
                count()
            return await trip(connection, fn, *args, **kwargs)

        self._monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)

    def _count(self, what: str) -> Callable[..., None]:
        def count(*_: Any) -> None:
            if self.counts is not None:
                self.counts[what] += 1

        return count

    @contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        self.counts = Counter()
        try:
            yield self.counts
        finally:
            self.counts = None


async def a_turn(
    server: LiveServer, socket: LiveSocket, conversation_id: str, tally: Tally
) -> Counter[str]:
    with tally.counting() as counts:
        sent = await server.send(conversation_id, "/agent search the handbook for vpn")
        ended = await socket.until("agent.completed", sent["reply_id"])
    assert [e["type"] for e in ended if e["message_id"] == sent["reply_id"]][-1] == (
        "agent.completed"
    )
    return counts


async def test_an_agent_turn_costs_five_transactions_then_four(
    database_url: str, reference_agent: RunningReferenceAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the periodic jobs' transactions are not the turn's
    env = agent_env(reference_agent, CONVO_SCHEDULER_ENABLED="false", **NO_WRITES_DURING_THE_STREAM)
    tally = Tally(monkeypatch)
    async with running_server(database_url, tally.attach, **env) as server:
        conversation_id = await server.conversation()
        socket = await LiveSocket.open(server, conversation_id)
        first = await a_turn(server, socket, conversation_id, tally)
        second = await a_turn(server, socket, conversation_id, tally)
        await socket.close()

    # The first message of an owner also loads the owner's routing overrides (then cached).
    # Each turn: the message with its reply and routing, the turn started and claimed with its
    # history; their seqs; the reply's end with the session's; the end's seq.
    assert first["transactions"] == 5, first
    assert second["transactions"] == 4, second
    # PostgreSQL: the message and the turn's start in 5 statements (the message with its
    # conversation's activity in one), then the seqs, the reply's end and the end's seqs, one
    # statement each. SQLite: the conversation's state, then for a follow-up the history;
    # the message with its reply and activity and the session's INSERT or versioned UPDATE go
    # with the transaction's next trip (the history's read, or the COMMIT for a first
    # message), and the seqs and group writes are one function on the connection's thread
    # (counted above as transactions only).
    # The conversation's first message reads its owner's overrides (then cached) but no
    # history, there being none, nor token counts to remember.
    first_budget, budget = (7, 8) if database_url.startswith("postgresql") else (2, 3)
    assert second["statements"] <= budget, second
    assert first["statements"] <= first_budget, first
