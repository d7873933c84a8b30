"""The WebSocket live channel through Litestar's test client."""

import json
from typing import Any

import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import WebSocketTestSession

from entrypoints.auth import issue_token
from tests.api.conftest import SECRET, Api, bearer


def token(user: str = "alice") -> str:
    return issue_token(SECRET, user, "acme")


def until_finished(ws: WebSocketTestSession, reply_id: str) -> list[dict[str, Any]]:
    events = []
    while True:
        events.append(json.loads(ws.receive_text()))
        if (
            events[-1]["type"] in ("message.completed", "message.failed")
            and events[-1]["message_id"] == reply_id
        ):
            return events


def test_a_socket_carries_the_whole_turn_in_the_versioned_envelope(api: Api) -> None:
    conversation_id = api.conversation()
    with api.client.websocket_connect(
        f"/api/v1/conversations/{conversation_id}/ws?access_token={token()}"
    ) as ws:
        body = api.send(conversation_id, "hello live world")
        events = until_finished(ws, body["reply_id"])

    assert all(
        set(e) == {"v", "type", "conversation_id", "message_id", "seq", "data"} for e in events
    )
    assert {e["v"] for e in events} == {1}
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["type"] for e in events[:2]] == ["message.created", "message.created"]
    deltas = "".join(e["data"]["delta"] for e in events if e["type"] == "message.delta")
    final = events[-1]["data"]["message"]
    api.settle()
    stored = api.messages(conversation_id)["items"][-1]["content"]
    assert deltas == final["content"] == stored == "Echo: hello live world"


def test_a_socket_accepts_the_token_as_a_bearer_header_too(api: Api) -> None:
    conversation_id = api.conversation()
    with api.client.websocket_connect(
        f"/api/v1/conversations/{conversation_id}/ws", headers=bearer()
    ) as ws:
        body = api.send(conversation_id, "hi")
        assert until_finished(ws, body["reply_id"])[-1]["type"] == "message.completed"


def test_a_reconnecting_socket_gets_what_it_missed_exactly_once(api: Api) -> None:
    conversation_id = api.conversation()
    url = f"/api/v1/conversations/{conversation_id}/ws?access_token={token()}"
    with api.client.websocket_connect(url) as ws:
        body = api.send(conversation_id, "one two three four five six")
        first = [json.loads(ws.receive_text()) for _ in range(4)]
    with api.client.websocket_connect(f"{url}&since={first[-1]['seq']}") as ws:
        rest = until_finished(ws, body["reply_id"])

    events = first + rest
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    deltas = "".join(e["data"]["delta"] for e in events if e["type"] == "message.delta")
    assert deltas == events[-1]["data"]["message"]["content"]


@pytest.mark.parametrize(
    ("query", "code"),
    [("", 4401), ("?access_token=garbage", 4401), ("?since=-1&access_token={t}", 4400)],
    ids=["no-token", "bad-token", "bad-since"],
)
def test_a_refused_socket_is_closed_with_4000_plus_the_status(
    api: Api, query: str, code: int
) -> None:
    conversation_id = api.conversation()
    url = f"/api/v1/conversations/{conversation_id}/ws" + query.format(t=token())
    with pytest.raises(WebSocketDisconnect) as refused, api.client.websocket_connect(url) as ws:
        ws.receive_text()
    assert refused.value.code == code
    assert token() not in str(refused.value.detail)


def test_someone_elses_conversation_is_not_found_over_the_socket(api: Api) -> None:
    conversation_id = api.conversation()
    url = f"/api/v1/conversations/{conversation_id}/ws?access_token={token('bob')}"
    with pytest.raises(WebSocketDisconnect) as refused, api.client.websocket_connect(url) as ws:
        ws.receive_text()
    assert refused.value.code == 4404
