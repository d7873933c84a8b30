"""The live channels over real HTTP: SSE and WebSocket served by uvicorn on loopback."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

import aiohttp
import pytest

from application.live import EventType, LiveEvent
from entrypoints.auth import issue_token
from entrypoints.http import live as live_module
from tests.api.conftest import SECRET, bearer
from tests.e2e.conftest import LiveServer, LiveSocket, SseReader, running_server


async def test_sse_streams_the_turn_with_ids_heartbeats_and_proxy_headers(
    live_server: LiveServer,
) -> None:
    conversation_id = await live_server.conversation()
    url = f"{live_server.api}/conversations/{conversation_id}/events"
    async with live_server.http.get(url, headers=bearer()) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["X-Accel-Buffering"] == "no"
        await asyncio.sleep(0.5)
        await live_server.send(conversation_id, "streams over sse")
        reader = SseReader(response)
        events = await reader.until("message.completed")
    assert reader.heartbeats > 0, "an idle stream carries heartbeat comments"
    deltas = "".join(e["data"]["delta"] for e in events if e["type"] == "message.delta")
    assert deltas == events[-1]["data"]["message"]["content"] == "Echo: streams over sse"


async def test_sse_resumes_from_last_event_id_without_losing_or_repeating(
    live_server: LiveServer,
) -> None:
    conversation_id = await live_server.conversation()
    url = f"{live_server.api}/conversations/{conversation_id}/events"
    words = " ".join(f"w{n}" for n in range(30))
    async with live_server.http.get(url, headers=bearer()) as response:
        await live_server.send(conversation_id, words)
        reader = SseReader(response)
        first = await reader.until("message.delta")
        first += await reader.until("message.delta")
    resumed = {**bearer(), "Last-Event-ID": str(first[-1]["seq"])}
    async with live_server.http.get(url, headers=resumed) as response:
        rest = await SseReader(response).until("message.completed")
    events = first + rest
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    deltas = "".join(e["data"]["delta"] for e in events if e["type"] == "message.delta")
    assert deltas == f"Echo: {words}"


async def test_sse_takes_the_token_from_the_query_for_browsers(live_server: LiveServer) -> None:
    conversation_id = await live_server.conversation()
    token = issue_token(SECRET, "alice", "acme")
    url = f"{live_server.api}/conversations/{conversation_id}/events?access_token={token}"
    async with live_server.http.get(url) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("user", "token_param", "status"),
    [("bob", True, 404), ("alice", False, 401)],
    ids=["stranger", "no-token"],
)
async def test_a_refused_websocket_handshake_gets_the_http_status(
    live_server: LiveServer, user: str, token_param: bool, status: int
) -> None:
    conversation_id = await live_server.conversation()
    url = f"{live_server.api}/conversations/{conversation_id}/ws".replace("http", "ws", 1)
    if token_param:
        url += f"?access_token={issue_token(SECRET, user, 'acme')}"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await live_server.http.ws_connect(url)
    assert refused.value.status == status


async def test_websocket_and_sse_clients_see_the_same_numbered_events(
    live_server: LiveServer,
) -> None:
    conversation_id = await live_server.conversation()
    base = f"{live_server.api}/conversations/{conversation_id}"
    token = issue_token(SECRET, "alice", "acme")
    ws = await live_server.http.ws_connect(
        f"{base}/ws?access_token={token}".replace("http", "ws", 1)
    )
    async with live_server.http.get(f"{base}/events", headers=bearer()) as response:
        await asyncio.sleep(0.1)
        await live_server.send(conversation_id, "same for everyone")
        over_sse = await SseReader(response).until("message.completed")
    over_ws = []
    async with asyncio.timeout(10):
        while not over_ws or over_ws[-1]["type"] != "message.completed":
            over_ws.append(await ws.receive_json())
    await ws.close()
    assert over_ws == over_sse


async def notices(server: LiveServer, conversation_id: str, count: int) -> None:
    """Published in one go: the in-process bus numbers and queues them without yielding."""
    live = server.container.adapters.live()
    for number in range(count):
        await live.publish(
            LiveEvent(
                type=EventType.NOTICE,
                conversation_id=UUID(conversation_id),
                message_id=None,
                data={"text": f"notice {number}"},
            )
        )


async def open_socket(server: LiveServer, conversation_id: str) -> aiohttp.ClientWebSocketResponse:
    socket = await LiveSocket.open(server, conversation_id)
    await asyncio.sleep(0.2)  # the server has subscribed it
    return socket.ws


async def frames_until_closed(socket: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    received = []
    async with asyncio.timeout(10):
        async for message in socket:
            received.append(json.loads(message.data))
    return received


async def test_a_socket_that_falls_behind_is_closed_with_4408_and_can_catch_up(
    database_url: str,
) -> None:
    async with running_server(database_url, CONVO_SUBSCRIBER_QUEUE_EVENTS="2") as server:
        conversation_id = await server.conversation()
        socket = await open_socket(server, conversation_id)

        await notices(server, conversation_id, 5)

        received = await frames_until_closed(socket)
        assert socket.close_code == 4408
        assert [frame["seq"] for frame in received] == [1]
        caught_up = await LiveSocket.open(server, conversation_id, since=received[-1]["seq"])
        async with asyncio.timeout(10):
            rest = [await caught_up.ws.receive_json() for _ in range(4)]
        await caught_up.close()
        assert [frame["seq"] for frame in rest] == [2, 3, 4, 5]


async def test_a_socket_whose_sending_fails_is_closed_with_1011_and_others_go_on(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation_id = await live_server.conversation()
    socket = await open_socket(live_server, conversation_id)

    def failing(event: LiveEvent) -> bytes:
        raise RuntimeError("cannot encode")

    monkeypatch.setattr(live_module, "encode_event", failing)
    await notices(live_server, conversation_id, 1)
    assert await frames_until_closed(socket) == []
    assert socket.close_code == 1011

    monkeypatch.undo()
    again = await open_socket(live_server, conversation_id)
    await notices(live_server, conversation_id, 1)
    async with asyncio.timeout(10):
        assert (await again.receive_json())["data"] == {"text": "notice 0"}
    await again.close()
