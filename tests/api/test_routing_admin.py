"""The routing overrides admin API, through the real app and container."""

from __future__ import annotations

import pytest

from application.use_cases.route_message import RouteCommand
from domain.conversations import Owner, Principal
from domain.routing import Reason
from tests.api.conftest import Api, bearer

ADMIN = bearer("root", "acme", ("convo:admin",))
BASE = "/api/v1/admin/routing/organisations"


def route(api: Api, conversation_id: str, content: str) -> Reason:
    command = RouteCommand(
        Principal(Owner("acme", "alice")), __import__("uuid").UUID(conversation_id), content
    )
    router = api.container.use_cases.route_message()
    return api.client.blocking_portal.call(router.execute, command).reason


def test_an_admin_switches_the_agent_off_for_the_organisation_and_on_for_a_user(api: Api) -> None:
    conversation = api.conversation()
    assert route(api, conversation, "/agent search") is Reason.EXPLICIT_AGENT
    settings = {"agent_routing": False, "busy_policy": "reject", "question_ttl_s": 120.0}
    response = api.client.put(f"{BASE}/acme", json=settings, headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.json() == {"org_id": "acme", **settings}
    assert route(api, conversation, "/agent search") is Reason.DISABLED_FOR_ORG
    response = api.client.put(
        f"{BASE}/acme/users/alice", json={"agent_routing": True}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    assert route(api, conversation, "/agent search") is Reason.EXPLICIT_AGENT
    listed = api.client.get(f"{BASE}/acme", headers=ADMIN).json()
    assert listed == {
        "organisation": {"org_id": "acme", **settings},
        "users": [{"org_id": "acme", "user_id": "alice", "agent_routing": True}],
    }
    assert api.client.delete(f"{BASE}/acme/users/alice", headers=ADMIN).status_code == 204
    assert api.client.delete(f"{BASE}/acme", headers=ADMIN).status_code == 204
    assert route(api, conversation, "/agent search") is Reason.EXPLICIT_AGENT
    empty = api.client.get(f"{BASE}/acme", headers=ADMIN).json()
    assert empty["organisation"]["agent_routing"] is None and empty["users"] == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/acme"), ("put", "/acme"), ("delete", "/acme"), ("put", "/acme/users/bob")],
)
def test_without_the_admin_permission_the_answer_is_403(api: Api, method: str, path: str) -> None:
    kwargs = {"json": {"agent_routing": False}} if method == "put" else {}
    response = getattr(api.client, method)(BASE + path, headers=bearer(), **kwargs)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")


def test_an_admin_of_another_organisation_is_refused(api: Api) -> None:
    other = bearer("root", "globex", ("convo:admin",))
    response = api.client.put(f"{BASE}/acme", json={"agent_routing": False}, headers=other)
    assert response.status_code == 403
    assert api.client.get(f"{BASE}/acme", headers=other).status_code == 403


def test_no_token_is_401(api: Api) -> None:
    assert api.client.get(f"{BASE}/acme").status_code == 401


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/acme", {"busy_policy": "sometimes"}, "busy_policy"),
        ("/acme", {"agent_routing": "yes"}, "agent_routing"),
        ("/acme", {"colour": "red"}, "colour"),
        ("/acme/users/alice", {"busy_policy": "reject"}, "busy_policy"),
        ("/acme/users/alice", {"question_ttl_s": 60}, "question_ttl_s"),
        ("/acme", {"question_ttl_s": 0}, "question_ttl_s"),
        ("/" + "x" * 201, {"agent_routing": True}, "org_id"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api: Api, path: str, body: dict, field: str) -> None:  # type: ignore[type-arg]
    response = api.client.put(BASE + path, json=body, headers=ADMIN)
    assert response.status_code == 400, response.text
    assert field in [error["field"] for error in response.json()["errors"]]


def test_routing_decisions_are_counted_on_the_metrics_endpoint(api: Api) -> None:
    conversation = api.conversation()
    route(api, conversation, "/agent search")
    route(api, conversation, "hello")
    exposition = api.client.get("/metrics").text
    assert (
        'convo_routing_decisions_total{action="start",reason="explicit_agent",route="agent"} 1.0'
        in exposition
    )
    assert (
        'convo_routing_decisions_total{action="none",reason="no_agent_signal",route="llm"} 1.0'
        in exposition
    )
