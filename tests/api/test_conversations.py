from uuid import uuid4

from tests.api.conftest import Api, bearer


def test_a_conversation_is_created_with_its_public_shape(api: Api) -> None:
    response = api.client.post("/api/v1/conversations", json={"title": "Trip"}, headers=bearer())
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "title", "created_at", "updated_at"}
    assert body["title"] == "Trip"


def test_a_conversation_without_a_title_gets_the_default(api: Api) -> None:
    response = api.client.post("/api/v1/conversations", json={}, headers=bearer())
    assert response.json()["title"] == "New conversation"


def test_the_owner_lists_their_conversations_newest_first_page_by_page(api: Api) -> None:
    made = [api.conversation(title=f"c{n}") for n in range(5)]
    api.conversation(headers=bearer("bob"))
    seen, before = [], None
    while True:
        params = {"limit": 2} | ({"before": before} if before else {})
        page = (api.client.get("/api/v1/conversations", params=params, headers=bearer())).json()
        seen += [item["id"] for item in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == list(reversed(made))


def test_an_owner_reads_one_conversation(api: Api) -> None:
    conversation_id = api.conversation(title="mine")
    response = api.client.get(f"/api/v1/conversations/{conversation_id}", headers=bearer())
    assert (response.status_code, response.json()["title"]) == (200, "mine")


def test_another_users_conversation_is_not_found_everywhere(api: Api) -> None:
    conversation_id = api.conversation()
    base = f"/api/v1/conversations/{conversation_id}"
    for headers in (bearer("bob"), bearer("alice", org="other-org")):
        for response in (
            api.client.get(base, headers=headers),
            api.client.get(f"{base}/messages", headers=headers),
            api.client.post(f"{base}/messages", json={"content": "hi"}, headers=headers),
            api.client.get(f"{base}/events", headers=headers),
        ):
            assert response.status_code == 404, response.text
            assert response.headers["content-type"].startswith("application/problem+json")
    assert (api.messages(conversation_id))["items"] == []


def test_an_unknown_conversation_is_not_found(api: Api) -> None:
    response = api.client.get(f"/api/v1/conversations/{uuid4()}", headers=bearer())
    assert response.status_code == 404


def test_a_malformed_id_is_a_bad_request_naming_it(api: Api) -> None:
    response = api.client.get("/api/v1/conversations/not-a-uuid", headers=bearer())
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "conversation_id"


def test_an_unknown_cursor_is_a_bad_request_naming_it(api: Api) -> None:
    response = api.client.get(
        "/api/v1/conversations", params={"before": str(uuid4())}, headers=bearer()
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "before"
