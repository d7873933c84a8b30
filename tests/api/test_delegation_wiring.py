"""The delegation use cases as the composition root wires them: real storage, the offline
tokenizer, the extractive summarizer, and an agent gateway given to the container."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest
from litestar.testing import TestClient

from application.errors import NotPermitted
from application.use_cases.agent_progress import TurnEnd
from application.use_cases.answer_agent_question import AnswerCommand
from application.use_cases.start_agent_turn import StartTurnCommand
from domain.agent_events import TurnCompleted
from domain.agent_sessions import QuestionExpired, SessionStatus
from domain.conversations import Owner, Principal
from domain.messages import Role
from entrypoints.container import build_container, build_scheduler
from entrypoints.http.app import create_app
from entrypoints.http.errors import on_application, on_domain
from tests.api.conftest import SECRET, Api, settings_for
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
    last = api.messages(conversation, limit=1)["items"][-1]
    use_cases = api.container.use_cases
    call = api.client.blocking_portal.call

    turn = call(
        use_cases.start_agent_turn().execute,
        StartTurnCommand(ALICE, UUID(conversation), UUID(last["id"]), "what did I ask?"),
    )
    request = gateway.requests[0]
    assert turn.opened and request.input == "what did I ask?"
    assert request.chat_history[0].role is Role.SYSTEM
    assert request.chat_history[0].content.startswith("Summary of the earlier conversation")
    counter = api.container.adapters.token_counter()
    history_tokens = sum(counter.count(t.content) for t in request.chat_history)
    assert history_tokens + counter.count(request.input) <= 60

    async def play() -> None:
        async for event in turn.events:
            if event.is_terminal:
                await use_cases.pause_for_question().execute(turn.session.id, event)
            else:
                await use_cases.record_agent_progress().execute(turn.session.id, event)

    call(play)
    answer = AnswerCommand(ALICE, UUID(conversation), "q1", "a")
    outcome = call(use_cases.answer_agent_question().execute, answer)
    assert outcome.turn is not None and gateway.requests[1].session_id == "agent-1"
    session = call(
        use_cases.finish_agent_turn().execute, turn.session.id, TurnEnd(TurnCompleted(event_id=9))
    )
    assert session.status is SessionStatus.ACTIVE and session.last_event_id == 9


def test_without_an_agent_service_url_the_turn_use_cases_say_why(database_url: str) -> None:
    container = build_container(settings_for(database_url))
    with pytest.raises(RuntimeError, match="CONVO_AGENT_SERVICE_URL is not set"):
        container.use_cases.start_agent_turn()


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
    assert container.use_cases.pause_for_question()._ttl == timedelta(seconds=60)
    rules = container.use_cases.route_message()._rules
    assert rules.keywords.found_in("please LOOK   UP this") and not rules.keywords.found_in(
        "search"
    )


def test_the_scheduler_completes_idle_agent_sessions(database_url: str) -> None:
    container = build_container(settings_for(database_url, CONVO_AGENT_SESSION_IDLE_S="0.000001"))
    container.adapters.agent_gateway.override(ScriptedAgentGateway(answer_script()))
    with TestClient(create_app(container, SECRET)) as client:
        api = Api(client, container)
        conversation = UUID(api.conversation())
        call = client.blocking_portal.call
        turn = call(
            container.use_cases.start_agent_turn().execute,
            StartTurnCommand(ALICE, conversation, UUID(int=77), "hello"),
        )
        assert call(build_scheduler(container).run_once)["expire_agent_sessions"] == 0
        call(container.use_cases.finish_agent_turn().execute, turn.session.id, TurnEnd())
        assert call(build_scheduler(container).run_once)["expire_agent_sessions"] == 1

        async def status() -> SessionStatus:
            async with container.adapters.uow() as uow:
                session = await uow.agent_sessions.get(turn.session.id)
            assert session is not None
            return session.status

        assert call(status) is SessionStatus.COMPLETED
