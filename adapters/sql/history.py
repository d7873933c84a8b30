from collections.abc import Mapping, Sequence
from itertools import islice
from uuid import UUID

from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.messages import message_from_row
from adapters.sql.tables import messages
from application.ports.history import HistoryRepository
from domain.messages import Message, MessageStatus

_m = messages.c
BATCH = 500


class SqlHistoryRepository(HistoryRepository):
    """Token counts live in two nullable columns of `messages`: read in the same query as the
    history, written once per message and vocabulary (a change of vocabulary recounts)."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def recent(
        self, conversation_id: UUID, limit: int, encoding: str
    ) -> Sequence[tuple[Message, int | None]]:
        query = (
            select(messages)
            .where(
                _m.conversation_id == conversation_id,
                _m.status == MessageStatus.COMPLETE.value,
            )
            .order_by(_m.created_at.desc(), _m.id.desc())
            .limit(limit)
        )
        rows = (await self._connection.execute(query)).all()
        return [
            (message_from_row(row), row.token_count if row.token_encoding == encoding else None)
            for row in reversed(rows)
        ]

    async def remember_token_counts(self, encoding: str, counts: Mapping[UUID, int]) -> None:
        items = iter(counts.items())
        while batch := dict(islice(items, BATCH)):
            await self._connection.execute(
                update(messages)
                .where(_m.id.in_(list(batch)))
                .values(token_count=case(batch, value=_m.id), token_encoding=encoding)
            )
