"""The delegation use cases as the composition root wires them: real storage, the offline
tokenizer, the extractive summarizer, and an agent gateway given to the container."""

from __future__ import annotations

from datetime import timedelta

import pytest
from litestar.testing import TestClient

from application.errors import NotPermitted
from domain.agent_sessions import QuestionExpired
from domain.conversations import Owner, Principal
from domain.messages import Role
from entrypoints.container import build_container
from entrypoints.container.jobs import build_scheduler
from entrypoints.http.app import create_app
from entrypoints.http.errors import on_application, on_domain
from tests.api.conftest import SECRET, Api, bearer, settings_for
from tests.fakes.delegation import ScriptedAgentGateway
from tests.unit.application.delegation import answer_script, question_script

ALICE = Principal(Owner("acme", "alice"))


@pytest.fixture
def wired(database_url: str):  # type: ignore[no-untyped-def]
    settings = settings_for(
        database_url,
        CONVO_HISTORY_STRATEGY="summary",
        CONVO_HISTORY_MAX_TOKENS="60",
        CONVO_HISTORY_SUMMARY_TOKENS="30",
    )
    container = build_container(settings)
    gateway = ScriptedAgentGateway(question_script(), answer_script())
    container.adapters.agent_gateway.override(gateway)
    with TestClient(create_app(container, SECRET)) as client:
        yield Api(client, container), gateway


def test_a_turn_runs_through_the_wired_use_cases(wired) -> None:  # type: ignore[no-untyped-def]
    api, gateway = wired
    conversation = api.conversation()
    for n in range(12):
        api.send(conversation, f"Tell me about invoice {n}. It matters a lot for finance.")
    api.settle()

    asked = api.send(conversation, "/agent what did I ask?")
    api.settle()
    request = gateway.requests[0]
    assert asked["route"] == "agent" and request.input == "what did I ask?"
    assert request.chat_history[0].role is Role.SYSTEM
    assert request.chat_history[0].content.startswith("Summary of the earlier conversation")
    counter = api.container.adapters.token_counter()
    history_tokens = sum(counter.count(t.content) for t in request.chat_history)
    assert history_tokens + counter.count(request.input) <= 60

    answered = api.client.post(
        f"/api/v1/conversations/{conversation}/agent-answer",
        json={"question_id": "q1", "answer": "a"},
        headers=bearer(),
    )
    assert answered.status_code == 202, answered.text
    api.settle()
    assert gateway.requests[1].session_id == "agent-1"
    assert gateway.requests[1].answer is not None
    session = api.client.get(
        f"/api/v1/conversations/{conversation}/agent-session", headers=bearer()
    )
    assert session.json()["status"] == "ACTIVE"
    assert session.json()["turn_running"] is False


def test_without_an_agent_service_agent_bound_messages_go_to_the_direct_model(
    database_url: str,
) -> None:
    container = build_container(settings_for(database_url))
    with TestClient(create_app(container, SECRET)) as client:
        api = Api(client, container)
        conversation = api.conversation()
        sent = api.send(conversation, "/agent search the docs")
        api.settle()
        reply = api.messages(conversation)["items"][-1]
    assert sent["route"] == "llm"
    assert (reply["status"], reply["content"]) == ("complete", "Echo: /agent search the docs")
    assert "agent" not in reply


def test_delegation_errors_map_to_their_status_codes() -> None:
    assert on_domain(None, QuestionExpired("q1")).status_code == 410  # type: ignore[arg-type]
    assert on_application(None, NotPermitted("x")).status_code == 403  # type: ignore[arg-type]


def test_settings_reach_the_wired_parts(database_url: str) -> None:
    settings = settings_for(
        database_url,
        CONVO_TOKENIZER_ENCODING="cl100k_base",
        CONVO_AGENT_QUESTION_TTL_S="60",
        CONVO_AGENT_INTENT_KEYWORDS="deploy, look up",
    )
    container = build_container(settings)
    assert container.adapters.token_counter().encoding == "cl100k_base"
    policy = container.use_cases.agent_event_processor()._policy
    assert policy.question_ttl == timedelta(seconds=60)
    rules = container.use_cases.route_message()._rules
    assert rules.keywords.found_in("please LOOK   UP this") and not rules.keywords.found_in(
        "search"
    )


def test_the_use_cases_every_message_goes_through_are_built_once(database_url: str) -> None:
    container = build_container(settings_for(database_url))
    assert container.use_cases.send_message() is container.use_cases.send_message()
    assert container.use_cases.route_message() is container.use_cases.route_message()
    assert container.use_cases.send_message()._route is container.use_cases.route_message()


def test_the_scheduler_completes_idle_agent_sessions_but_not_running_ones(
    database_url: str,
) -> None:
    container = build_container(settings_for(database_url, CONVO_AGENT_SESSION_IDLE_S="0.000001"))
    gateway = ScriptedAgentGateway(answer_script(), hold_after=1)
    container.adapters.agent_gateway.override(gateway)
    with TestClient(create_app(container, SECRET)) as client:
        api = Api(client, container)
        conversation = api.conversation()
        api.send(conversation, "/agent hello")
        call = client.blocking_portal.call
        call(gateway.held.wait)
        scheduler = build_scheduler(container)
        assert call(scheduler.run_once)["expire_agent_sessions"] == 0
        call(gateway.release.set)
        api.settle()
        assert call(scheduler.run_once)["expire_agent_sessions"] == 1
        session = client.get(
            f"/api/v1/conversations/{conversation}/agent-session", headers=bearer()
        )
        assert session.json()["status"] == "COMPLETED"
