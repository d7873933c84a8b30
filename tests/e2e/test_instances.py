"""Several instances on one PostgreSQL database and one Redis: any instance serves any user."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest

from entrypoints.auth import issue_token
from entrypoints.reference_agent.server import RunningReferenceAgent
from tests.api.conftest import SECRET
from tests.conftest import REDIS_URL, truncate_all
from tests.e2e.conftest import LiveSocket, SseReader, agent_env, running_server

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


async def test_an_agent_turn_on_one_instance_reaches_a_client_of_another(
    postgres_url: str, redis_prefix: str, reference_agent: RunningReferenceAgent
) -> None:
    await truncate_all(postgres_url)
    shared = agent_env(reference_agent, CONVO_REDIS_URL=REDIS_URL, CONVO_REDIS_PREFIX=redis_prefix)
    async with (
        running_server(postgres_url, **shared) as a,
        running_server(postgres_url, **shared) as b,
    ):
        conversation_id = await a.conversation()
        on_b = await LiveSocket.open(b, conversation_id)
        sent = await a.send(conversation_id, "/agent search the wiki")
        events = await on_b.until("agent.completed", sent["reply_id"])
        await on_b.close()
    kinds = [e["type"] for e in events]
    assert {"agent.thinking", "agent.tool_started", "message.delta"} <= set(kinds)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


async def test_twenty_first_agent_messages_over_two_instances_share_one_session(
    postgres_url: str, redis_prefix: str, reference_agent: RunningReferenceAgent
) -> None:
    await truncate_all(postgres_url)
    shared = agent_env(reference_agent, CONVO_REDIS_URL=REDIS_URL, CONVO_REDIS_PREFIX=redis_prefix)
    async with (
        running_server(postgres_url, **shared) as a,
        running_server(postgres_url, **shared) as b,
    ):
        conversation_id = await a.conversation()
        socket = await LiveSocket.open(a, conversation_id)
        sent = await asyncio.gather(
            *(
                (a if n % 2 else b).send(conversation_id, f"/agent search item {n}")
                for n in range(20)
            )
        )
        for accepted in sent:
            await socket.until_ended(accepted["reply_id"])
        await socket.close()

        async def sessions() -> list[Any]:
            async with a.container.adapters.uow() as uow:
                conversation = UUID(conversation_id)
                latest = await uow.agent_sessions.latest_for(conversation)
                live = await uow.agent_sessions.live_for(conversation)
            return [latest, live]

        latest, live = await sessions()
    assert latest is not None and live is not None and latest.id == live.id
    assert {
        event["data"]["message"]["agent"]["session_id"]
        for event in socket.events
        if event["type"] == "message.completed" and "agent" in event["data"]["message"]
    } == {str(latest.id)}
    ended = [e for e in socket.events if e["type"] in ("message.completed", "message.failed")]
    assert {e["message_id"] for e in ended} >= {s["reply_id"] for s in sent}
    assert all(e["type"] == "message.completed" for e in ended)
