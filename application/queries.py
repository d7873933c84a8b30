"""Read-side helpers: small enough that entrypoints call the ports through them directly."""

from uuid import UUID

from application.errors import ConversationNotFound
from application.ports.unit_of_work import UnitOfWork
from domain.conversations import Conversation, Owner


async def owned_conversation(uow: UnitOfWork, owner: Owner, conversation_id: UUID) -> Conversation:
    """The conversation if it exists and belongs to `owner`; otherwise ConversationNotFound, so
    a caller cannot tell someone else's conversation from a missing one."""
    conversation = await uow.conversations.get(conversation_id)
    if conversation is None or not conversation.is_owned_by(owner):
        raise ConversationNotFound(str(conversation_id))
    return conversation
