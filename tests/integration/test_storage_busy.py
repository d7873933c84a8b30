"""A unit of work that gets no database connection in time says so as StorageBusy (the
service answers 503), on both backends."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.sql.unit_of_work import SqlUnitOfWork
from application.ports.unit_of_work import StorageBusy
from tests.conftest import BACKENDS, empty_database


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_unit_of_work_with_no_connection_free_in_time_is_storage_busy(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> None:
    url = await empty_database(request, backend, tmp_path)
    engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        async with SqlUnitOfWork(engine):
            with pytest.raises(StorageBusy):
                async with SqlUnitOfWork(engine):
                    pass
        async with SqlUnitOfWork(engine) as uow:  # the pool serves again once one is free
            assert await uow.conversations.get(uuid4()) is None
    finally:
        await engine.dispose()
