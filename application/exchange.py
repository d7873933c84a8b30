from datetime import datetime

from application.ports.ids import IdGenerator
from application.ports.unit_of_work import UnitOfWork
from domain.conversations import Conversation
from domain.messages import Message


async def add_exchange(
    uow: UnitOfWork,
    ids: IdGenerator,
    conversation: Conversation,
    content: str,
    now: datetime,
    idempotency_key: str | None,
    by_agent: bool,
) -> tuple[Message, Message]:
    """Store a user's message with its empty streaming reply and mark the conversation active,
    in the caller's transaction. New messages reflect no event yet, so the conversation's seq
    floor read before (`owned_conversation_with_floor`, `owned_conversation_state`) still holds
    for announcing them."""
    message = Message.from_user(ids.new_id(), conversation.id, content, now)
    reply = Message.pending_reply(ids.new_id(), conversation.id, message.id, now, by_agent)
    conversation.touch(now)
    await uow.messages.add_with_reply(conversation, message, reply, idempotency_key)
    return message, reply
