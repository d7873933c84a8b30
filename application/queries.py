"""Read-side helpers: small enough that entrypoints call the ports through them directly."""

from uuid import UUID

from application.errors import ConversationNotFound
from application.ports.repositories import ConversationState
from application.ports.unit_of_work import UnitOfWork
from domain.conversations import Conversation, Owner


async def owned_conversation(uow: UnitOfWork, owner: Owner, conversation_id: UUID) -> Conversation:
    """The conversation if it exists and belongs to `owner`; otherwise ConversationNotFound, so
    a caller cannot tell someone else's conversation from a missing one."""
    return _owned(await uow.conversations.get(conversation_id), owner, conversation_id)


async def owned_conversation_with_floor(
    uow: UnitOfWork, owner: Owner, conversation_id: UUID
) -> tuple[Conversation, int]:
    """`owned_conversation` and the newest seq its stored messages reflect, in one read."""
    found = await uow.conversations.get_with_event_floor(conversation_id)
    conversation, floor = found if found is not None else (None, 0)
    return _owned(conversation, owner, conversation_id), floor


async def owned_conversation_state(
    uow: UnitOfWork, owner: Owner, conversation_id: UUID
) -> ConversationState:
    """`owned_conversation` with its seq floor and live agent session, in one read."""
    state = await uow.conversations.get_state(conversation_id)
    if state is None or not state.conversation.is_owned_by(owner):
        raise ConversationNotFound(str(conversation_id))
    return state


def _owned(conversation: Conversation | None, owner: Owner, conversation_id: UUID) -> Conversation:
    if conversation is None or not conversation.is_owned_by(owner):
        raise ConversationNotFound(str(conversation_id))
    return conversation
