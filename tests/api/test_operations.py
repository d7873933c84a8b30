from litestar.testing import TestClient

from entrypoints.container import build_container
from entrypoints.http.app import create_app
from tests.api.conftest import SECRET, Api, settings_for


def test_liveness_needs_no_token(api: Api) -> None:
    response = api.client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readiness_reports_the_database(api: Api) -> None:
    response = api.client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == {"status": "ok"}


def test_the_openapi_schema_describes_the_chat_api(api: Api) -> None:
    schema = api.client.get("/schema/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/conversations",
        "/api/v1/conversations/{conversation_id}",
        "/api/v1/conversations/{conversation_id}/messages",
        "/api/v1/conversations/{conversation_id}/events",
        "/health",
        "/health/ready",
    ):
        assert path in paths, path
    assert set(paths["/api/v1/conversations/{conversation_id}/messages"]) == {"get", "post"}


def test_readiness_is_503_when_the_database_does_not_answer() -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/convo_no_such_database"
    with TestClient(create_app(build_container(settings_for(url)), SECRET)) as client:
        assert client.get("/health").status_code == 200
        response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"]["status"] == "down"


def test_metrics_are_served_for_prometheus(api: Api) -> None:
    conversation_id = api.conversation()
    api.send(conversation_id, "count me")
    api.settle()
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'convo_replies_total{outcome="completed",route="llm"} 1.0' in text
    assert "convo_first_delta_seconds_bucket" in text


def test_readiness_reports_a_down_agent_service_as_degraded_but_stays_ready(api: Api) -> None:
    api.client.blocking_portal.call(api.container.use_cases.agent_availability().check)
    response = api.client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["agent_service"] == {"status": "down"}
