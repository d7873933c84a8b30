"""A PostgreSQL connection the server dropped while it sat in the pool (a restart, a failover,
an idle timeout) is replaced before use, not handed to a request that would fail; one idle
long enough for a network device to have dropped it silently is pinged first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql import engine as engine_module
from adapters.sql.engine import PING, create_engine

pytestmark = pytest.mark.postgres


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def drop(engine: AsyncEngine, pid: int) -> None:
    """Terminate the server process behind a pooled connection, as a restart would, and wait
    until it is gone. Each look is its own transaction: within one, PostgreSQL shows the same
    snapshot of pg_stat_activity every time."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        await connection.commit()
        async with asyncio.timeout(10):
            while (
                await connection.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                )
            ).scalar_one():
                await connection.commit()
                await asyncio.sleep(0.01)


@pytest.fixture
async def engines(postgres_url: str) -> AsyncIterator[list[AsyncEngine]]:
    made: list[AsyncEngine] = []
    yield made
    for engine in made:
        await engine.dispose()


class Pings:
    """The queries sent to check connections; the next `failing` of them fail as a
    connection dropped on the way would."""

    def __init__(self) -> None:
        self.sent = 0
        self.failing = 0


@pytest.fixture
def pings(monkeypatch: pytest.MonkeyPatch) -> Pings:
    seen = Pings()
    execute = asyncpg.Connection.execute

    async def counted(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> str:
        if query == PING:
            seen.sent += 1
            if seen.failing:
                seen.failing -= 1
                raise asyncpg.exceptions.ConnectionDoesNotExistError("dropped on the way")
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "execute", counted)
    return seen


async def test_a_pooled_connection_the_server_dropped_is_replaced_before_use(
    postgres_url: str, engines: list[AsyncEngine], pings: Pings
) -> None:
    engine = create_engine(postgres_url, pool_size=1)
    admin = create_engine(postgres_url)
    engines += [engine, admin]
    returned: list[Any] = []
    event.listen(engine.sync_engine, "checkin", lambda dbapi, _record: returned.append(dbapi))
    pid = await backend_pid(engine)

    await drop(admin, pid)
    # The loop reads the server's goodbye at once in practice; the test waits for it rather
    # than race it (a connection dropped in the instant before its checkout is not noticed).
    async with asyncio.timeout(10):
        while not returned[-1].driver_connection.is_closed():
            await asyncio.sleep(0.01)

    assert await backend_pid(engine) != pid
    assert pings.sent == 0  # known closed: replaced without a round trip


async def test_a_connection_used_just_now_is_handed_out_without_a_ping(
    postgres_url: str, engines: list[AsyncEngine], pings: Pings
) -> None:
    engine = create_engine(postgres_url, pool_size=1)
    engines.append(engine)
    first = await backend_pid(engine)

    assert [await backend_pid(engine) for _ in range(5)] == [first] * 5
    assert pings.sent == 0


async def test_a_connection_idle_past_the_threshold_is_pinged_and_replaced_when_dead(
    postgres_url: str,
    engines: list[AsyncEngine],
    pings: Pings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = create_engine(postgres_url, pool_size=1)
    engines.append(engine)
    first = await backend_pid(engine)
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0)

    assert await backend_pid(engine) == first  # pinged, alive, kept
    assert pings.sent == 1

    pings.failing = 1
    replaced = await backend_pid(engine)

    assert replaced != first
    assert pings.sent == 3  # the failed ping, then the new connection's
