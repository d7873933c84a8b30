import pytest

from tests.api.conftest import Api, bearer


def test_sending_answers_202_with_the_stored_message_and_the_reply_id(api: Api) -> None:
    conversation_id = api.conversation()
    body = api.send(conversation_id, "hello there")
    message = body["message"]
    assert set(body) == {"message", "reply_id", "route"}
    assert body["route"] == "llm"
    assert set(message) == {"id", "conversation_id", "role", "content", "status", "created_at"}
    assert (message["role"], message["content"], message["status"]) == (
        "user",
        "hello there",
        "complete",
    )

    api.settle()
    items = (api.messages(conversation_id))["items"]
    assert [(m["id"], m["role"], m["status"]) for m in items] == [
        (message["id"], "user", "complete"),
        (body["reply_id"], "assistant", "complete"),
    ]
    assert items[1]["content"] == "Echo: hello there"


def test_messages_page_backwards_from_a_cursor(api: Api) -> None:
    conversation_id = api.conversation()
    for n in range(3):
        api.send(conversation_id, f"m{n}")
        api.settle()
    newest = api.messages(conversation_id, limit=4)
    older = api.messages(conversation_id, limit=4, before=newest["next_before"])
    contents = [m["content"] for m in older["items"] + newest["items"]]
    assert contents == ["m0", "Echo: m0", "m1", "Echo: m1", "m2", "Echo: m2"]
    assert older["next_before"] is None


def test_a_repeated_idempotency_key_returns_the_first_result_and_stores_nothing(
    api: Api,
) -> None:
    conversation_id = api.conversation()
    first = api.send(conversation_id, "once", **{"Idempotency-Key": "abc"})
    again = api.send(conversation_id, "once", **{"Idempotency-Key": "abc"})
    api.settle()
    assert again == first
    assert len((api.messages(conversation_id))["items"]) == 2


def test_an_idempotency_key_reused_with_other_content_is_refused(api: Api) -> None:
    conversation_id = api.conversation()
    api.send(conversation_id, "once", **{"Idempotency-Key": "abc"})
    response = api.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"content": "twice"},
        headers={**bearer(), "Idempotency-Key": "abc"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


BAD_BODIES = [
    (b"{not json", "body"),
    (b"[]", "body"),
    (b'"text"', "body"),
    (b"{}", "content"),
    (b'{"content": "hi", "extra": 1}', "extra"),
    (b'{"content": 42}', "content"),
    (b'{"content": null}', "content"),
    (b'{"content": ""}', "content"),
    (b'{"content": "   "}', "content"),
    (b'{"content": "' + b"x" * 32_001 + b'"}', "content"),
]


@pytest.mark.parametrize(("raw", "field"), BAD_BODIES)
def test_bad_input_is_a_4xx_problem_naming_the_field_and_stores_nothing(
    api: Api, raw: bytes, field: str
) -> None:
    conversation_id = api.conversation()
    api.send(conversation_id, "kept")
    api.settle()
    response = api.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        content=raw,
        headers={**bearer(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 400
    assert field in {error["field"] for error in problem["errors"]}
    assert [m["content"] for m in (api.messages(conversation_id))["items"]] == [
        "kept",
        "Echo: kept",
    ]


def test_content_of_exactly_32000_characters_is_accepted(api: Api) -> None:
    conversation_id = api.conversation()
    api.send(conversation_id, "y" * 32_000)


def test_an_overlong_idempotency_key_is_refused_naming_it(api: Api) -> None:
    conversation_id = api.conversation()
    response = api.client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        json={"content": "hi"},
        headers={**bearer(), "Idempotency-Key": "k" * 201},
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"before": "x"}, "before")],
)
def test_bad_paging_parameters_are_refused_naming_them(
    api: Api, params: dict[str, object], field: str
) -> None:
    conversation_id = api.conversation()
    response = api.client.get(
        f"/api/v1/conversations/{conversation_id}/messages", params=params, headers=bearer()
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == field
