"""What an agent turn costs the database, counted (not timed): a budget that keeps the turn
from growing back a transaction at a time. Writes during the stream are switched off, so what
is counted is the turn's fixed cost: storing and routing the message, announcing it, starting
and claiming the turn with its history, and the turn's end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.sqlite_reply_progress import SqliteReplyProgress
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

    def __init__(self) -> None:
        self.counts: Counter[str] | None = None

    def attach(self, container: Container) -> None:
        engine: AsyncEngine = container.infrastructure.engine()
        event.listen(engine.sync_engine, "begin", self._count("transactions"))
        event.listen(engine.sync_engine, "before_cursor_execute", self._count("statements"))
        progress = container.adapters.reply_progress()
        if isinstance(progress, SqliteReplyProgress):
            self._count_group_writes(progress)

    def _count_group_writes(self, progress: SqliteReplyProgress) -> None:
        """SQLite's group writes run on the connection's thread, past the engine's events:
        each is a transaction."""
        save, count = progress.save, self._count("transactions")

        async def counted(group: Any) -> set[Any]:
            count()
            return await save(group)

        progress.save = counted  # type: ignore[method-assign]

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
    database_url: str, reference_agent: RunningReferenceAgent
) -> None:
    # the periodic jobs' transactions are not the turn's
    env = agent_env(reference_agent, CONVO_SCHEDULER_ENABLED="false", **NO_WRITES_DURING_THE_STREAM)
    tally = Tally()
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
    # SQLite also counts each transaction's BEGIN IMMEDIATE, and several writes that are one
    # statement on PostgreSQL take two there.
    budget = 8 if database_url.startswith("postgresql") else 14
    assert second["statements"] <= budget, second
