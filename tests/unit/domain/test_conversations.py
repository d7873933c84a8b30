from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from domain.conversations import DEFAULT_TITLE, Conversation, Owner, Principal, clean_title
from domain.errors import InvalidField

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ALICE = Owner(org_id="acme", user_id="alice")


def test_a_blank_or_missing_title_becomes_the_default() -> None:
    assert clean_title(None) == DEFAULT_TITLE
    assert clean_title("   ") == DEFAULT_TITLE


def test_a_title_is_trimmed() -> None:
    assert clean_title("  Plans  ") == "Plans"


def test_a_title_over_200_characters_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidField) as refused:
        clean_title("x" * 201)
    assert refused.value.field == "title"


def test_a_conversation_belongs_to_exactly_its_org_and_user() -> None:
    conversation = Conversation.start(UUID(int=1), ALICE, None, NOW)
    assert conversation.is_owned_by(Owner("acme", "alice"))
    assert not conversation.is_owned_by(Owner("acme", "bob"))
    assert not conversation.is_owned_by(Owner("other", "alice"))


def test_touching_a_conversation_never_moves_it_back_in_time() -> None:
    conversation = Conversation.start(UUID(int=1), ALICE, "t", NOW)
    conversation.touch(NOW + timedelta(seconds=5))
    conversation.touch(NOW)
    assert conversation.updated_at == NOW + timedelta(seconds=5)


def test_a_principal_may_do_only_what_its_permissions_name() -> None:
    principal = Principal(ALICE, frozenset({"admin"}))
    assert principal.may("admin")
    assert not principal.may("agent:use")
