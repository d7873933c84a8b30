"""Shared fixtures: a fresh PostgreSQL database for the run, migrated SQLite files per test."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.engine import create_engine
from adapters.sql.tables import metadata
from entrypoints.database import upgrade

T = TypeVar("T")

REDIS_URL = os.environ.get("CONVO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_ADMIN_URL = os.environ.get(
    "CONVO_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def run_blocking(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a loop of its own, in a thread, so that session
    fixtures work even when first requested from inside a test's running loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def postgres_database_url(name: str) -> str:
    url = make_url(POSTGRES_ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def new_postgres_database() -> Iterator[object]:
    """A factory of fresh, empty PostgreSQL databases, all dropped at the end of the run."""
    made: list[str] = []

    def make() -> str:
        name = f"convo_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        run_blocking(_admin(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return postgres_database_url(name)

    yield make
    for name in made:
        run_blocking(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_url(new_postgres_database) -> str:  # type: ignore[no-untyped-def]
    """The run's PostgreSQL database, migrated to the newest revision."""
    url = new_postgres_database()
    run_blocking(upgrade(url))
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    run_blocking(upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


def sqlite_copy(template: Path, directory: Path) -> str:
    path = directory / f"convo-{uuid.uuid4().hex[:8]}.db"
    shutil.copy(template, path)
    return f"sqlite+aiosqlite:///{path}"


async def truncate_all(url: str) -> None:
    engine = create_engine(url)
    names = ", ".join(table.name for table in metadata.sorted_tables)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {names} CASCADE"))
    await engine.dispose()


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


async def empty_database(request: pytest.FixtureRequest, backend: str, directory: Path) -> str:
    """The URL of a migrated, empty database: a fresh SQLite file, or the run's PostgreSQL
    database emptied."""
    if backend == "sqlite":
        return sqlite_copy(request.getfixturevalue("sqlite_template"), directory)
    url = request.getfixturevalue("postgres_url")
    await truncate_all(url)
    return url


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of each backend in turn."""
    return await empty_database(request, request.param, tmp_path)


@pytest.fixture
async def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    return sqlite_copy(sqlite_template, tmp_path)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of the test's own in the real Redis, its keys deleted afterwards."""
    prefix = f"convo-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
