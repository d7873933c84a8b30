"""Changing a stored agent session under optimistic locking, and describing a turn."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from application.errors import NoAgentSession, SessionContention
from application.ports.agent_gateway import AgentTurnRequest, UserContext
from application.ports.agent_sessions import StaleAgentSession
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.agent_events import AgentEvent
from domain.agent_sessions import AgentSession
from domain.conversations import Conversation, Principal
from domain.messages import Message

T = TypeVar("T")

ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class AgentTurn:
    """A turn handed to the live event processor: iterate `events` to its terminal event and
    report progress with the session's id. `opened` is False when the call joined the live
    session another request had opened. `request` is None for a turn resumed after a
    restart (nothing is sent again). `reply` is the reply the turn was claimed for as it
    was read then, when the turn was started with it (None: the caller claims the turn)."""

    session: AgentSession
    request: AgentTurnRequest | None
    events: AsyncIterator[AgentEvent]
    opened: bool = False
    reply: Message | None = None


def user_context(conversation: Conversation, principal: Principal) -> UserContext:
    """Who the agent acts for: the conversation's owner, with the caller's permissions (only
    the owner can reach the conversation, so the two are the same person)."""
    return UserContext(
        user_id=conversation.owner.user_id,
        org_id=conversation.owner.org_id,
        permissions=tuple(sorted(principal.permissions)),
    )


async def change_session(
    uow: UnitOfWorkFactory, session_id: UUID, change: Callable[[AgentSession], T]
) -> tuple[AgentSession, T]:
    """Apply `change` to the stored session and save it, reading it again whenever a
    concurrent save won; domain errors raised by `change` propagate and nothing is saved."""
    for _ in range(ATTEMPTS):
        async with uow() as tx:
            session = await tx.agent_sessions.get(session_id)
            if session is None:
                raise NoAgentSession(str(session_id))
            result = change(session)
            try:
                await tx.agent_sessions.save(session)
                await tx.commit()
            except StaleAgentSession:
                continue
            return session, result
    raise SessionContention(str(session_id))
