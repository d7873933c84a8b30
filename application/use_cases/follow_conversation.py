from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from uuid import UUID

from application.live import LiveEvent, snapshot
from application.ports.live_events import LiveEvents
from application.ports.unit_of_work import UnitOfWorkFactory
from application.queries import owned_conversation_with_floor
from domain.conversations import Owner


@dataclass(frozen=True, slots=True)
class FollowCommand:
    owner: Owner
    conversation_id: UUID
    since: int | None = None


class LiveStream:
    """What one client receives: the events it missed, then live ones, each seq once, in order.

    Already subscribed when handed out; iterate it once, or `aclose` it if it is never read.
    """

    def __init__(
        self,
        missed: Sequence[LiveEvent],
        live: AsyncIterator[LiveEvent],
        subscription: AsyncExitStack,
        since: int | None,
    ) -> None:
        self._missed = missed
        self._live = live
        self._subscription = subscription
        self._since = since

    def __aiter__(self) -> AsyncIterator[LiveEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[LiveEvent]:
        last = self._since
        try:
            for event in self._missed:
                yield event
                last = event.seq
            async for event in self._live:
                if last is not None and event.seq <= last:
                    continue
                yield event
                last = event.seq
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        await self._subscription.aclose()


class FollowConversation:
    """Open the live events of a conversation for one client, resuming after `since` if given.

    Rules:
    - only the owner may follow a conversation (others get ConversationNotFound);
    - the subscription exists when `execute` returns, so a client that connects and then
      sends a message sees every event of that message;
    - a client that reconnects receives every event after `since` exactly once and in order:
      from the replay buffer when it still holds them all, otherwise the stored state of every
      message changed since then (one event per message, numbered with the seq it reflects)
      merged with the buffered events those states do not reflect (a streaming message's
      snapshot lags its newest deltas; numbering may jump past a restart);
    - a client that claims a seq the bus has not reached (the bus restarted) moves the bus past
      it, so that no later event reuses a number the client has already seen.
    """

    def __init__(self, uow: UnitOfWorkFactory, live: LiveEvents) -> None:
        self._uow = uow
        self._live = live

    async def execute(self, command: FollowCommand) -> LiveStream:
        conversation_id = command.conversation_id
        async with self._uow() as uow:
            _, floor = await owned_conversation_with_floor(uow, command.owner, conversation_id)
        await self._live.ensure_seq_at_least(conversation_id, floor)
        subscription = AsyncExitStack()
        live = await subscription.enter_async_context(self._live.subscribe(conversation_id))
        try:
            missed = (
                [] if command.since is None else await self._missed(conversation_id, command.since)
            )
        except BaseException:
            await subscription.aclose()
            raise
        return LiveStream(missed, live, subscription, command.since)

    async def _missed(self, conversation_id: UUID, since: int | None) -> list[LiveEvent]:
        if since is None:
            return []
        if since > await self._live.last_seq(conversation_id):
            await self._live.ensure_seq_at_least(conversation_id, since)
            return []
        buffered = await self._live.replay(conversation_id, since)
        if buffered is not None:
            return list(buffered)
        async with self._uow() as uow:
            changed = await uow.messages.changed_since(conversation_id, since)
        snapshots = [snapshot(message) for message in changed]
        held = await self._live.held_after(conversation_id, since)
        reflected = {event.message_id: event.seq for event in snapshots}
        newer = [e for e in held if e.seq > reflected.get(e.message_id, since)]
        return sorted(snapshots + newer, key=lambda event: event.seq)
