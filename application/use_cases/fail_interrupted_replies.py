import logging

from application.live import message_finished
from application.ports.live_events import LiveEvents
from application.ports.unit_of_work import UnitOfWorkFactory
from application.use_cases.produce_llm_reply import INTERRUPTED

log = logging.getLogger(__name__)


class FailInterruptedReplies:
    """Mark as failed every reply left streaming by a process that is gone.

    Rules: only for a single instance at its start, when no other process can be writing a
    reply; the text produced so far is kept; clients are told with `message.failed`.
    """

    def __init__(self, uow: UnitOfWorkFactory, live: LiveEvents) -> None:
        self._uow = uow
        self._live = live

    async def execute(self) -> int:
        async with self._uow() as uow:
            replies = list(await uow.messages.streaming())
            floors = {}
            for reply in replies:
                reply.fail()
                await uow.messages.save_progress(reply)
                floors[reply.conversation_id] = await uow.messages.max_event_seq(
                    reply.conversation_id
                )
            await uow.commit()
        for reply in replies:
            await self._live.ensure_seq_at_least(
                reply.conversation_id, floors[reply.conversation_id]
            )
            event = await self._live.publish(message_finished(reply, INTERRUPTED))
            async with self._uow() as uow:
                await uow.messages.record_event_seqs({reply.id: event.seq})
                await uow.commit()
        if replies:
            log.warning("marked %d interrupted replies as failed", len(replies))
        return len(replies)
