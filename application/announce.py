"""Announcing changes made outside a running reply: new messages, endings, notices.

These may happen in a process whose live bus has never seen the conversation (after a restart,
in the scheduler), so each raises the conversation's numbering to the stored floor first.
"""

from collections.abc import Mapping
from uuid import UUID

from application.event_seqs import SeqsInTransaction
from application.live import LiveEvent, message_created, message_finished
from application.ports.live_events import LiveEvents
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.messages import Message


async def announce_new(live: LiveEvents, floor: int, *messages: Message) -> dict[UUID, int]:
    """Publish newly stored messages as `message.created`, numbered above `floor` (the seq the
    stored conversation already reflects). Returns the seq of each message's event, for
    `EventSeqs.store`."""
    seqs = {}
    if messages:
        await live.ensure_seq_at_least(messages[0].conversation_id, floor)
    for message in messages:
        event = await live.publish(message_created(message))
        seqs[message.id] = event.seq
    return seqs


async def remember_seqs(uow: UnitOfWorkFactory, seqs: Mapping[UUID, int]) -> None:
    """Store which event each message last reflects (never lowering it), for clients that
    catch up from the database, in a transaction of its own (the rare paths; the paths of
    every turn go through EventSeqs)."""
    if seqs:
        await SeqsInTransaction(uow).record(seqs)


async def publish_anew(live: LiveEvents, uow: UnitOfWorkFactory, event: LiveEvent) -> LiveEvent:
    """Publish an event, numbering it above everything stored for its conversation."""
    async with uow() as tx:
        floor = await tx.messages.max_event_seq(event.conversation_id)
    await live.ensure_seq_at_least(event.conversation_id, floor)
    return await live.publish(event)


async def fail_reply(uow: UnitOfWorkFactory, live: LiveEvents, reply: Message, reason: str) -> None:
    """End a streaming reply as failed, keeping its text, and tell its clients why (`reason`
    is shown to users)."""
    reply.fail()
    async with uow() as tx:
        await tx.messages.save_progress(reply)
        await tx.commit()
    event = await publish_anew(live, uow, message_finished(reply, reason))
    await remember_seqs(uow, {reply.id: event.seq})
