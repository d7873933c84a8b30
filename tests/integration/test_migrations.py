"""Every revision upgrades, downgrades and upgrades again on both backends (the "stairway"),
and the newest revision builds exactly the schema the code declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.sql.tables import metadata
from entrypoints.database import current_revision, downgrade, revisions, upgrade
from tests.conftest import BACKENDS


@pytest.fixture(params=BACKENDS)
def blank_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'stairway.db'}"
    return request.getfixturevalue("new_postgres_database")()


async def table_names(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names - {"alembic_version"}


async def test_every_revision_goes_up_down_and_up_again(blank_database: str) -> None:
    steps = revisions(blank_database)
    assert steps, "no revisions found"
    previous = "base"
    for revision in steps:
        await upgrade(blank_database, revision)
        await downgrade(blank_database, previous)
        assert await current_revision(blank_database) == (None if previous == "base" else previous)
        await upgrade(blank_database, revision)
        assert await current_revision(blank_database) == revision
        previous = revision


async def test_downgrading_to_base_leaves_no_tables(blank_database: str) -> None:
    await upgrade(blank_database)
    assert await table_names(blank_database) >= {"conversations", "messages"}
    await downgrade(blank_database, "base")
    assert await table_names(blank_database) == set()


async def test_the_newest_revision_matches_the_declared_tables(blank_database: str) -> None:
    await upgrade(blank_database)
    engine = create_async_engine(blank_database)
    async with engine.connect() as connection:
        differences = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), metadata
            )
        )
    await engine.dispose()
    assert differences == []
