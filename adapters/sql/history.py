from collections.abc import Mapping, Sequence
from uuid import UUID

from sqlalchemy import Integer, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.messages import message_from_row
from adapters.sql.rows import execute_rows
from adapters.sql.tables import messages
from application.ports.history import HistoryRepository
from domain.messages import Message, MessageStatus

_m = messages.c

# Built once: both run at every agent turn's start.
_RECENT = (
    select(messages)
    .where(
        _m.conversation_id == bindparam("b_conversation_id"),
        _m.status == MessageStatus.COMPLETE.value,
    )
    .order_by(_m.created_at.desc(), _m.id.desc())
    .limit(bindparam("b_limit", type_=Integer))
)
_REMEMBER = (
    update(messages)
    .where(_m.id == bindparam("b_id"))
    .values(token_count=bindparam("b_count"), token_encoding=bindparam("b_encoding"))
)


class SqlHistoryRepository(HistoryRepository):
    """Token counts live in two nullable columns of `messages`: read in the same query as the
    history, written once per message and vocabulary (a change of vocabulary recounts)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def recent(
        self, conversation_id: UUID, limit: int, encoding: str
    ) -> Sequence[tuple[Message, int | None]]:
        values = {"b_conversation_id": conversation_id, "b_limit": limit}
        rows = (await self._connection.execute(_RECENT, values)).all()
        return [
            (message_from_row(row), row.token_count if row.token_encoding == encoding else None)
            for row in reversed(rows)
        ]

    async def remember_token_counts(self, encoding: str, counts: Mapping[UUID, int]) -> None:
        rows = [
            {"b_id": message_id, "b_count": count, "b_encoding": encoding}
            for message_id, count in counts.items()
        ]
        await execute_rows(self._connection, _REMEMBER, rows)
