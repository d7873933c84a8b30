import pytest

from entrypoints.auth import issue_token
from tests.api.conftest import SECRET, Api


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not.a.token",
        f"Bearer {issue_token('another-secret-' + 'y' * 30, 'alice', 'acme')}",
        f"Bearer {issue_token(SECRET, 'alice', 'acme', ttl_s=-1)}",
    ],
    ids=["none", "empty", "basic", "garbage", "wrong-secret", "expired"],
)
def test_requests_without_a_valid_token_are_unauthorized(
    api: Api, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = api.client.get("/api/v1/conversations", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["status"] == 401


def test_the_query_token_is_only_for_live_channels(api: Api) -> None:
    token = issue_token(SECRET, "alice", "acme")
    response = api.client.get("/api/v1/conversations", params={"access_token": token})
    assert response.status_code == 401
