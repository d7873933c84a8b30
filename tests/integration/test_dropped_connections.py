"""A PostgreSQL connection the server dropped while it sat in the pool (a restart, a failover,
an idle timeout) is replaced before use, not handed to a request that would fail."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine

pytestmark = pytest.mark.postgres


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def drop(engine: AsyncEngine, pid: int) -> None:
    """Terminate the server process behind a pooled connection, as a restart would."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@pytest.fixture
async def engines(postgres_url: str) -> AsyncIterator[list[AsyncEngine]]:
    made: list[AsyncEngine] = []
    yield made
    for engine in made:
        await engine.dispose()


async def test_a_pooled_connection_the_server_dropped_is_replaced_before_use(
    postgres_url: str, engines: list[AsyncEngine]
) -> None:
    engine = create_engine(postgres_url, pool_size=1)
    admin = create_engine(postgres_url)
    engines += [engine, admin]
    pid = await backend_pid(engine)

    await drop(admin, pid)

    assert await backend_pid(engine) != pid
