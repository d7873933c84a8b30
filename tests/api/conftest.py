from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import TestClient

from entrypoints.auth import issue_token
from entrypoints.container import Container, build_container
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings

SECRET = "test-secret-" + "x" * 32


def bearer(
    user: str = "alice", org: str = "acme", permissions: tuple[str, ...] = ()
) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, user, org, permissions)}"}


@dataclass
class Api:
    client: TestClient
    container: Container

    def conversation(self, headers: dict[str, str] | None = None, title: str = "t") -> str:
        response = self.client.post(
            "/api/v1/conversations", json={"title": title}, headers=headers or bearer()
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def send(self, conversation_id: str, content: str, **headers: str) -> dict[str, Any]:
        response = self.client.post(
            f"/api/v1/conversations/{conversation_id}/messages",
            json={"content": content},
            headers={**bearer(), **headers},
        )
        assert response.status_code == 202, response.text
        return response.json()

    def settle(self) -> None:
        """Wait until every reply in the background is finished."""
        self.client.blocking_portal.call(self.container.adapters.background().drain)

    def messages(self, conversation_id: str, **params: Any) -> dict[str, Any]:
        response = self.client.get(
            f"/api/v1/conversations/{conversation_id}/messages", params=params, headers=bearer()
        )
        assert response.status_code == 200, response.text
        return response.json()


def settings_for(database_url: str, **overrides: str):  # type: ignore[no-untyped-def]
    return load_settings(
        {
            "CONVO_DATABASE_URL": database_url,
            "CONVO_ECHO_DELAY_MS": "0",
            "CONVO_SHUTDOWN_GRACE_S": "1",
            **overrides,
        }
    )


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    container = build_container(settings_for(database_url))
    with TestClient(create_app(container, SECRET)) as client:
        yield Api(client, container)


def frames(text_frames: list[str]) -> list[dict[str, Any]]:
    return [json.loads(frame) for frame in text_frames]
