from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Row, bindparam, func, insert, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import Label

from adapters.sql.agent_sessions import live_session_in, with_live_session
from adapters.sql.tables import conversations, messages
from application.ports.repositories import ConversationRepository, ConversationState
from domain.conversations import Conversation, Owner


def _conversation(row: Row) -> Conversation:
    return Conversation(
        id=row.id,
        owner=Owner(org_id=row.org_id, user_id=row.user_id),
        title=row.title,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _labelled_conversation(row: Row) -> Conversation:
    """A conversation read under `_LABELLED` names, beside a joined session's own."""
    return Conversation(
        id=row.conversations_id,
        owner=Owner(org_id=row.conversations_org_id, user_id=row.conversations_user_id),
        title=row.conversations_title,
        created_at=row.conversations_created_at,
        updated_at=row.conversations_updated_at,
    )


# Built once: every request of a conversation reads it (ownership) and most also write it.
_GET = select(conversations).where(conversations.c.id == bindparam("b_id"))


def _newest_seq(when_none: int, label: str) -> Label[Any]:
    """The newest seq a conversation's stored messages reflect, `when_none` without any."""
    return (
        select(func.coalesce(func.max(messages.c.event_seq), when_none))
        .where(messages.c.conversation_id == conversations.c.id)
        .scalar_subquery()
        .label(label)
    )


_EVENT_FLOOR = _newest_seq(0, "event_floor")
_GET_WITH_EVENT_FLOOR = select(conversations, _EVENT_FLOOR).where(
    conversations.c.id == bindparam("b_id")
)
_LABELLED = [column.label(f"conversations_{column.key}") for column in conversations.c]
_NO_MESSAGE = -1
_NEWEST_SEQ = _newest_seq(_NO_MESSAGE, "newest_seq")
"""The event floor and whether any message is stored, in the floor's own subquery: a stored
message's seq is never below 0, so only a conversation without messages reads -1."""
_GET_STATE = with_live_session(select(*_LABELLED, _NEWEST_SEQ), conversations).where(
    conversations.c.id == bindparam("b_id")
)
_ADD = insert(conversations).values(
    {column.key: bindparam(f"b_{column.key}") for column in conversations.c}
)


class SqlConversationRepository(ConversationRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, conversation: Conversation) -> None:
        await self._connection.execute(
            _ADD,
            {
                "b_id": conversation.id,
                "b_org_id": conversation.owner.org_id,
                "b_user_id": conversation.owner.user_id,
                "b_title": conversation.title,
                "b_created_at": conversation.created_at,
                "b_updated_at": conversation.updated_at,
            },
        )

    async def get(self, conversation_id: UUID) -> Conversation | None:
        result = await self._connection.execute(_GET, {"b_id": conversation_id})
        row = result.first()
        return None if row is None else _conversation(row)

    async def get_with_event_floor(self, conversation_id: UUID) -> tuple[Conversation, int] | None:
        result = await self._connection.execute(_GET_WITH_EVENT_FLOOR, {"b_id": conversation_id})
        row = result.first()
        return None if row is None else (_conversation(row), int(row.event_floor))

    async def get_state(self, conversation_id: UUID) -> ConversationState | None:
        result = await self._connection.execute(_GET_STATE, {"b_id": conversation_id})
        row = result.first()
        if row is None:
            return None
        newest = int(row.newest_seq)
        return ConversationState(
            _labelled_conversation(row),
            max(newest, 0),
            live_session_in(row),
            has_messages=newest != _NO_MESSAGE,
        )

    async def list_for(
        self, owner: Owner, limit: int, before: UUID | None
    ) -> Sequence[Conversation]:
        c = conversations.c
        query = select(conversations).where(c.org_id == owner.org_id, c.user_id == owner.user_id)
        if before is not None:
            cursor = (
                await self._connection.execute(select(c.updated_at, c.id).where(c.id == before))
            ).first()
            if cursor is None:
                return []
            query = query.where(tuple_(c.updated_at, c.id) < tuple_(cursor.updated_at, cursor.id))
        query = query.order_by(c.updated_at.desc(), c.id.desc()).limit(limit)
        result = await self._connection.execute(query)
        return [_conversation(row) for row in result]
