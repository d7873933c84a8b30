from datetime import UTC, datetime
from uuid import UUID

import pytest

from domain.errors import IllegalTransition, InvalidField
from domain.messages import MAX_CONTENT_CHARS, Message, MessageStatus, Role, clean_content

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CONVERSATION = UUID(int=100)


def reply() -> Message:
    return Message.pending_reply(UUID(int=2), CONVERSATION, UUID(int=1), NOW)


@pytest.mark.parametrize("content", ["", " ", "\n\t "])
def test_blank_content_is_refused_naming_the_field(content: str) -> None:
    with pytest.raises(InvalidField) as refused:
        clean_content(content)
    assert refused.value.field == "content"


def test_content_up_to_32000_characters_is_kept_verbatim() -> None:
    text = "  hi\n" + "x" * (MAX_CONTENT_CHARS - 5)
    assert clean_content(text) == text


def test_content_over_32000_characters_is_refused() -> None:
    with pytest.raises(InvalidField):
        clean_content("x" * (MAX_CONTENT_CHARS + 1))


def test_a_user_message_is_complete_from_the_start() -> None:
    message = Message.from_user(UUID(int=1), CONVERSATION, "hello", NOW)
    assert (message.role, message.status) == (Role.USER, MessageStatus.COMPLETE)


def test_a_reply_streams_then_completes_with_everything_appended() -> None:
    message = reply()
    assert message.is_streaming and message.content == ""
    message.append("Hel")
    message.append("lo")
    message.complete()
    assert (message.content, message.status) == ("Hello", MessageStatus.COMPLETE)


def test_a_failed_reply_keeps_the_text_it_had() -> None:
    message = reply()
    message.append("partial")
    message.fail()
    assert (message.content, message.status) == ("partial", MessageStatus.FAILED)


@pytest.mark.parametrize("end", ["complete", "fail"])
def test_a_finished_reply_accepts_no_more_text_nor_a_second_ending(end: str) -> None:
    message = reply()
    getattr(message, end)()
    with pytest.raises(IllegalTransition):
        message.append("late")
    with pytest.raises(IllegalTransition):
        message.complete()
    with pytest.raises(IllegalTransition):
        message.fail()
