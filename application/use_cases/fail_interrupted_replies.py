import logging
from collections.abc import Collection
from uuid import UUID

from application.announce import fail_reply
from application.ports.live_events import LiveEvents
from application.ports.unit_of_work import UnitOfWorkFactory
from application.use_cases.produce_llm_reply import INTERRUPTED

log = logging.getLogger(__name__)


class FailInterruptedReplies:
    """Mark as failed every reply left streaming by a process that is gone.

    Rules: only for a single instance at its start, when no other process can be writing a
    reply, and after agent turns were taken over (`resumed` are theirs to finish); the text
    produced so far is kept; clients are told with `message.failed`.
    """

    def __init__(self, uow: UnitOfWorkFactory, live: LiveEvents) -> None:
        self._uow = uow
        self._live = live

    async def execute(self, resumed: Collection[UUID] = ()) -> int:
        async with self._uow() as uow:
            replies = [r for r in await uow.messages.streaming() if r.id not in resumed]
        for reply in replies:
            await fail_reply(self._uow, self._live, reply, INTERRUPTED)
        if replies:
            log.warning("marked %d interrupted replies as failed", len(replies))
        return len(replies)
