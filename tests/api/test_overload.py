"""Overload is answered 503 with Retry-After, not 500."""

from __future__ import annotations

from types import TracebackType

from dependency_injector import providers
from litestar.testing import TestClient

from application.ports.unit_of_work import StorageBusy
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from tests.api.conftest import SECRET, bearer, settings_for


class BusyUnitOfWork:
    async def __aenter__(self) -> BusyUnitOfWork:
        raise StorageBusy("no database connection came free in time")

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


def test_a_request_that_gets_no_database_connection_in_time_is_told_to_retry(
    database_url: str,
) -> None:
    container = build_container(settings_for(database_url))
    with TestClient(create_app(container, SECRET)) as client:
        container.adapters.uow.override(providers.Factory(BusyUnitOfWork))
        response = client.get("/api/v1/conversations", headers=bearer())
        container.adapters.uow.reset_override()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json()["detail"] == "the service is busy; try again shortly"
