"""Live agent conversations over real HTTP: the service under uvicorn on loopback, delegating
to the reference Agent Service, followed by WebSocket clients."""

from __future__ import annotations

import asyncio
from typing import Any

from entrypoints.container.jobs import build_scheduler
from entrypoints.reference_agent.server import RunningReferenceAgent
from tests.api.conftest import bearer
from tests.e2e.conftest import LiveServer, LiveSocket, agent_env, running_server


def of_type(events: list[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    return [event for event in events if event["type"] in types]


def answer_text(events: list[dict[str, Any]], reply_id: str) -> str:
    return "".join(
        e["data"]["delta"]
        for e in events
        if e["type"] == "message.delta" and e["message_id"] == reply_id
    )


async def get(server: LiveServer, path: str) -> Any:
    async with server.http.get(f"{server.api}{path}", headers=bearer()) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_an_agent_search_shows_thinking_a_tool_and_the_streamed_answer(
    agent_server: LiveServer,
) -> None:
    conversation_id = await agent_server.conversation()
    socket = await LiveSocket.open(agent_server, conversation_id)
    sent = await agent_server.send(conversation_id, "/agent search the handbook for vpn")
    reply_id = sent["reply_id"]
    events = await socket.until("agent.completed", reply_id)
    await socket.close()

    assert sent["route"] == "agent"
    kinds = [e["type"] for e in events if e["message_id"] == reply_id]
    assert kinds[0] == "message.created" and kinds[-2:] == ["message.completed", "agent.completed"]
    for expected in ("agent.thinking", "agent.tool_started", "agent.tool_finished"):
        assert expected in kinds
    assert kinds.index("agent.tool_finished") < kinds.index("message.delta")
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    tool = of_type(events, "agent.tool_finished")[0]["data"]
    assert (tool["tool"], tool["status"]) == ("search", "ok")

    final = of_type(events, "message.completed")[-1]["data"]["message"]
    assert answer_text(events, reply_id) == final["content"]
    assert "results" in final["content"] and final["agent"]["tools"][0]["tool"] == "search"
    stored = (await get(agent_server, f"/conversations/{conversation_id}/messages"))["items"][-1]
    assert (stored["id"], stored["content"], stored["status"]) == (
        reply_id,
        final["content"],
        "complete",
    )
    session = await get(agent_server, f"/conversations/{conversation_id}/agent-session")
    assert (session["status"], session["turn_running"]) == ("ACTIVE", False)


async def test_a_conversation_of_several_turns_keeps_one_agent_session_with_memory(
    agent_server: LiveServer,
) -> None:
    conversation_id = await agent_server.conversation()
    socket = await LiveSocket.open(agent_server, conversation_id)
    asks = [
        "/agent search onboarding",
        "search payroll",  # sticky: the live session keeps it with the agent
        "/agent search holidays",
        "@agent search laptops",
        "search parking",
        "/agent remember what I asked earlier",
    ]
    sessions = set()
    for text in asks:
        sent = await agent_server.send(conversation_id, text)
        assert sent["route"] == "agent", text
        await socket.until("agent.completed", sent["reply_id"])
        session = await get(agent_server, f"/conversations/{conversation_id}/agent-session")
        sessions.add(session["id"])
    await socket.close()

    assert len(sessions) == 1
    recall = of_type(socket.events, "message.completed")[-1]["data"]["message"]["content"]
    for earlier in ("onboarding", "payroll", "holidays", "laptops", "parking"):
        assert earlier in recall


async def test_an_ambiguous_request_asks_and_the_answer_resumes_the_run(
    agent_server: LiveServer,
) -> None:
    conversation_id = await agent_server.conversation()
    socket = await LiveSocket.open(agent_server, conversation_id)
    asked = await agent_server.send(conversation_id, "/agent this is ambiguous, find it")
    await socket.until("agent.question", asked["reply_id"])
    question = of_type(socket.events, "agent.question")[0]["data"]
    assert question["choices"] == ["documents", "code", "tickets"]
    assert question["expires_at"]
    session = await get(agent_server, f"/conversations/{conversation_id}/agent-session")
    assert session["status"] == "AWAITING_USER"
    assert session["pending_question"]["question_id"] == question["question_id"]

    url = f"{agent_server.api}/conversations/{conversation_id}/agent-answer"
    body = {"question_id": question["question_id"], "answer": "code"}
    async with agent_server.http.post(url, json=body, headers=bearer()) as response:
        assert response.status == 202
        answered = await response.json()
    async with agent_server.http.post(url, json=body, headers=bearer()) as response:
        assert response.status == 202
        assert (await response.json())["reply_id"] == answered["reply_id"]
    wrong = {"question_id": "no-such-question", "answer": "code"}
    async with agent_server.http.post(url, json=wrong, headers=bearer()) as response:
        assert response.status == 409

    events = await socket.until("agent.completed", answered["reply_id"])
    await socket.close()
    assert answered["message"]["content"] == "code" and answered["route"] == "agent"
    final = of_type(events, "message.completed")[-1]["data"]["message"]
    assert final["id"] == answered["reply_id"] and "code" in final["content"]
    assert answer_text(events, answered["reply_id"]) == final["content"]
    session = await get(agent_server, f"/conversations/{conversation_id}/agent-session")
    assert session["status"] == "ACTIVE"


async def test_an_unanswered_question_expires_and_the_next_message_starts_fresh(
    database_url: str, reference_agent: RunningReferenceAgent
) -> None:
    env = agent_env(reference_agent, CONVO_AGENT_QUESTION_TTL_S="0.5")
    async with running_server(database_url, **env) as server:
        conversation_id = await server.conversation()
        socket = await LiveSocket.open(server, conversation_id)
        asked = await server.send(conversation_id, "/agent please clarify this")
        await socket.until("agent.question", asked["reply_id"])
        question = of_type(socket.events, "agent.question")[0]["data"]
        first = await get(server, f"/conversations/{conversation_id}/agent-session")
        await asyncio.sleep(0.6)
        handled = await build_scheduler(server.container).run_once()
        assert handled["expire_agent_sessions"] == 1
        expired = (await socket.until("agent.question_expired"))[-1]
        assert expired["data"] == {
            "question_id": question["question_id"],
            "message": "Agent question expired, starting fresh conversation",
        }
        session = await get(server, f"/conversations/{conversation_id}/agent-session")
        assert session["status"] == "ABANDONED"
        url = f"{server.api}/conversations/{conversation_id}/agent-answer"
        body = {"question_id": question["question_id"], "answer": "code"}
        async with server.http.post(url, json=body, headers=bearer()) as response:
            assert response.status == 410
            assert "expired" in (await response.json())["detail"]

        again = await server.send(conversation_id, "/agent search again")
        await socket.until("agent.completed", again["reply_id"])
        await socket.close()
        fresh = await get(server, f"/conversations/{conversation_id}/agent-session")
        assert fresh["id"] != first["id"] and fresh["status"] == "ACTIVE"


async def test_a_client_that_knows_only_message_events_still_gets_the_whole_answer(
    agent_server: LiveServer,
) -> None:
    conversation_id = await agent_server.conversation()
    socket = await LiveSocket.open(agent_server, conversation_id)
    sent = await agent_server.send(conversation_id, "/agent run code that adds numbers")
    await socket.until("agent.completed", sent["reply_id"])
    asked = await agent_server.send(conversation_id, "/agent ambiguous again")
    await socket.until("agent.question", asked["reply_id"])
    await socket.until("message.completed", asked["reply_id"])
    await socket.close()

    legacy: dict[str, str] = {}
    for event in of_type(socket.events, "message.created", "message.delta", "message.completed"):
        if event["type"] == "message.delta":
            legacy[event["message_id"]] += event["data"]["delta"]
        else:
            legacy[event["message_id"]] = event["data"]["message"]["content"]
    stored = await get(agent_server, f"/conversations/{conversation_id}/messages")
    assert legacy == {m["id"]: m["content"] for m in stored["items"]}
    assert legacy[asked["reply_id"]].startswith("Where should I look: documents, code or tickets?")


async def test_an_agent_error_fails_the_reply_kindly_and_is_kept_for_operators(
    agent_server: LiveServer,
) -> None:
    conversation_id = await agent_server.conversation()
    socket = await LiveSocket.open(agent_server, conversation_id)
    sent = await agent_server.send(conversation_id, "/agent search and fail please")
    events = await socket.until("message.failed", sent["reply_id"])
    await socket.close()
    error = of_type(events, "agent.error")[0]["data"]
    assert error["retryable"] is False and "tool_failed" not in error["message"]
    session = await get(agent_server, f"/conversations/{conversation_id}/agent-session")
    assert session["status"] == "FAILED"

    async def letters() -> list[Any]:
        async with agent_server.container.adapters.uow() as uow:
            return list(await uow.dead_letters.recent(10))

    [letter] = await letters()
    assert (letter.error_code, str(letter.reply_id)) == ("tool_failed", sent["reply_id"])
