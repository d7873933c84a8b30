"""Several instances on one PostgreSQL database and one Redis: any instance serves any user."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest

from entrypoints.auth import issue_token
from tests.api.conftest import SECRET
from tests.conftest import REDIS_URL, truncate_all
from tests.e2e.conftest import SseReader, running_server

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def test_a_client_on_one_instance_sees_a_reply_produced_on_another(
    postgres_url: str, redis_prefix: str
) -> None:
    await truncate_all(postgres_url)
    shared = {"CONVO_REDIS_URL": REDIS_URL, "CONVO_REDIS_PREFIX": redis_prefix}
    async with (
        running_server(postgres_url, **shared) as a,
        running_server(postgres_url, **shared) as b,
    ):
        conversation_id = await a.conversation()
        token = issue_token(SECRET, "alice", "acme")
        ws = await b.http.ws_connect(
            f"{b.api}/conversations/{conversation_id}/ws?access_token={token}".replace(
                "http", "ws", 1
            )
        )
        async with b.http.get(
            f"{b.api}/conversations/{conversation_id}/events?access_token={token}"
        ) as sse:
            await a.send(conversation_id, "across instances")
            over_sse = await SseReader(sse).until("message.completed")
        over_ws = []
        async with asyncio.timeout(10):
            while not over_ws or over_ws[-1]["type"] != "message.completed":
                over_ws.append(await ws.receive_json())
        await ws.close()
        shared_seq = await b.container.adapters.live().last_seq(UUID(conversation_id))

    assert over_ws == over_sse
    assert shared_seq == over_ws[-1]["seq"]
    assert [e["seq"] for e in over_ws] == list(range(1, len(over_ws) + 1))
    assert over_ws[-1]["data"]["message"]["content"] == "Echo: across instances"
