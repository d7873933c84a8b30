from dataclasses import dataclass

from application.ports.clock import Clock
from application.ports.ids import IdGenerator
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.conversations import Conversation, Owner


@dataclass(frozen=True, slots=True)
class CreateConversationCommand:
    owner: Owner
    title: str | None = None


class CreateConversation:
    """Start a conversation for the caller. Rules: the title is cleaned by the domain."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def execute(self, command: CreateConversationCommand) -> Conversation:
        conversation = Conversation.start(
            self._ids.new_id(), command.owner, command.title, self._clock.now()
        )
        async with self._uow() as uow:
            await uow.conversations.add(conversation)
            await uow.commit()
        return conversation
