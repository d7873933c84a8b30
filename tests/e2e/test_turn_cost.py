"""What an agent turn costs the database, counted (not timed): a budget that keeps the turn
from growing back a transaction at a time. Writes during the stream are switched off, so what
is counted is the turn's fixed cost: storing and routing the message, announcing it, starting
and claiming the turn with its history, and the turn's end."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from entrypoints.reference_agent.server import RunningReferenceAgent
from tests.e2e.conftest import LiveServer, LiveSocket, agent_env, running_server

NO_WRITES_DURING_THE_STREAM = {
    "CONVO_REPLY_FLUSH_INTERVAL_MS": "60000",
    "CONVO_REPLY_FLUSH_CHARS": "100000000",
}


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[Counter[str]]:
    """Transactions begun and statements run on `engine` while inside."""
    counts: Counter[str] = Counter()

    def began(*_: Any) -> None:
        counts["transactions"] += 1

    def executed(*_: Any) -> None:
        counts["statements"] += 1

    sync = engine.sync_engine
    event.listen(sync, "begin", began)
    event.listen(sync, "before_cursor_execute", executed)
    try:
        yield counts
    finally:
        event.remove(sync, "begin", began)
        event.remove(sync, "before_cursor_execute", executed)


async def a_turn(server: LiveServer, socket: LiveSocket, conversation_id: str) -> Counter[str]:
    engine = server.container.infrastructure.engine()
    with counting(engine) as counts:
        sent = await server.send(conversation_id, "/agent search the handbook for vpn")
        ended = await socket.until("agent.completed", sent["reply_id"])
    assert [e["type"] for e in ended if e["message_id"] == sent["reply_id"]][-1] == (
        "agent.completed"
    )
    return counts


async def test_an_agent_turn_costs_six_transactions_then_five(
    database_url: str, reference_agent: RunningReferenceAgent
) -> None:
    env = agent_env(reference_agent, **NO_WRITES_DURING_THE_STREAM)
    async with running_server(database_url, **env) as server:
        conversation_id = await server.conversation()
        socket = await LiveSocket.open(server, conversation_id)
        first = await a_turn(server, socket, conversation_id)
        second = await a_turn(server, socket, conversation_id)
        await socket.close()

    # The first message of an owner also loads the owner's routing overrides (then cached).
    # Each turn: the message with its reply and routing; their seqs; the turn started and
    # claimed with its history; the reply's end with the session's; the end's seq.
    assert first["transactions"] == 6, first
    assert second["transactions"] == 5, second
    assert second["statements"] <= 23, second
