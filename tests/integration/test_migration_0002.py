"""Revision 0002 only adds: what revision 0001 stored survives an upgrade and a downgrade."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.sql.tables import conversations, messages
from entrypoints.database import downgrade, upgrade
from tests.conftest import BACKENDS

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def blank_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'additive.db'}"
    return request.getfixturevalue("new_postgres_database")()


async def rows(url: str, query: str) -> list[tuple]:  # type: ignore[type-arg]
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        found = [tuple(row) for row in await connection.execute(text(query))]
    await engine.dispose()
    return found


async def test_upgrading_and_downgrading_0002_keeps_conversations_and_messages(
    blank_database: str,
) -> None:
    await upgrade(blank_database, "0001")
    engine = create_async_engine(blank_database)
    async with engine.begin() as connection:
        await connection.execute(
            insert(conversations).values(
                id=UUID(int=1),
                org_id="acme",
                user_id="alice",
                title="kept",
                created_at=T0,
                updated_at=T0,
            )
        )
        await connection.execute(
            insert(messages).values(
                id=UUID(int=2),
                conversation_id=UUID(int=1),
                role="user",
                content="hello",
                status="complete",
                created_at=T0,
            )
        )
    await engine.dispose()
    await upgrade(blank_database, "0002")
    assert await rows(blank_database, "SELECT content, token_count FROM messages") == [
        ("hello", None)
    ]
    await downgrade(blank_database, "0001")
    assert await rows(blank_database, "SELECT content FROM messages") == [("hello",)]
    assert await rows(blank_database, "SELECT title FROM conversations") == [("kept",)]
