from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from uuid import UUID

from application.errors import IdempotencyKeyReused
from application.live import message_created
from application.ports.background import BackgroundWork
from application.ports.clock import Clock
from application.ports.ids import IdGenerator
from application.ports.live_events import LiveEvents
from application.ports.repositories import DuplicateIdempotencyKey
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from application.queries import owned_conversation
from domain.conversations import Owner
from domain.messages import Message, clean_content


@dataclass(frozen=True, slots=True)
class SendMessageCommand:
    owner: Owner
    conversation_id: UUID
    content: str
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class ReplyJob:
    """What the background reply producer needs to answer one user message."""

    owner: Owner
    conversation_id: UUID
    message_id: UUID
    reply_id: UUID


@dataclass(frozen=True, slots=True)
class MessageAccepted:
    message: Message
    reply_id: UUID
    replayed: bool = False


ReplyProducer = Callable[[ReplyJob], Awaitable[None]]


class SendMessage:
    """Store a user's message with its pending reply, announce both, and start the reply.

    Rules:
    - the conversation must belong to the caller;
    - the content is cleaned by the domain (not blank, at most 32,000 characters);
    - a repeated Idempotency-Key returns the first result and stores nothing new, even when
      the two requests race; the same key with different content is refused;
    - replies of one conversation are produced one after another, in the order sent.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        live: LiveEvents,
        background: BackgroundWork,
        produce_reply: ReplyProducer,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._live = live
        self._background = background
        self._produce_reply = produce_reply

    async def execute(self, command: SendMessageCommand) -> MessageAccepted:
        content = clean_content(command.content)
        try:
            stored = await self._store(command, content)
        except DuplicateIdempotencyKey:
            async with self._uow() as uow:
                first = await self._replay(uow, command, content)
            assert first is not None, "a duplicate key implies a stored message"
            return first
        if isinstance(stored, MessageAccepted):
            return stored
        message, reply, floor = stored
        await self._announce(message, reply, floor)
        job = ReplyJob(command.owner, command.conversation_id, message.id, reply.id)
        self._background.submit(str(command.conversation_id), lambda: self._produce_reply(job))
        return MessageAccepted(message, reply.id)

    async def _store(
        self, command: SendMessageCommand, content: str
    ) -> MessageAccepted | tuple[Message, Message, int]:
        """The new message and reply with the conversation's seq floor, or the first result
        of a repeated request."""
        now = self._clock.now()
        async with self._uow() as uow:
            conversation = await owned_conversation(uow, command.owner, command.conversation_id)
            replayed = await self._replay(uow, command, content)
            if replayed is not None:
                return replayed
            message = Message.from_user(self._ids.new_id(), conversation.id, content, now)
            reply = Message.pending_reply(self._ids.new_id(), conversation.id, message.id, now)
            await uow.messages.add(message, idempotency_key=command.idempotency_key)
            await uow.messages.add(reply)
            conversation.touch(now)
            await uow.conversations.save(conversation)
            floor = await uow.messages.max_event_seq(conversation.id)
            await uow.commit()
        return message, reply, floor

    @staticmethod
    async def _replay(
        uow: UnitOfWork, command: SendMessageCommand, content: str
    ) -> MessageAccepted | None:
        if command.idempotency_key is None:
            return None
        first = await uow.messages.by_idempotency_key(
            command.conversation_id, command.idempotency_key
        )
        if first is None:
            return None
        if first.content != content:
            raise IdempotencyKeyReused(command.idempotency_key)
        reply = await uow.messages.reply_to(first.id)
        assert reply is not None, "a user message is stored with its reply"
        return MessageAccepted(first, reply.id, replayed=True)

    async def _announce(self, message: Message, reply: Message, floor: int) -> None:
        """Publish the two new messages, then remember which events they reflect."""
        await self._live.ensure_seq_at_least(message.conversation_id, floor)
        seqs = {}
        for stored in (message, reply):
            event = await self._live.publish(message_created(stored))
            seqs[stored.id] = event.seq
        async with self._uow() as uow:
            await uow.messages.record_event_seqs(seqs)
            await uow.commit()
