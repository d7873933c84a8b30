from collections.abc import Sequence

from sqlalchemy import Row, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.tables import agent_dead_letters
from application.ports.dead_letters import DeadLetter, DeadLetterRepository

_d = agent_dead_letters.c


def _letter(row: Row) -> DeadLetter:
    return DeadLetter(
        id=row.id,
        conversation_id=row.conversation_id,
        error_kind=row.error_kind,
        error_message=row.error_message,
        retryable=row.retryable,
        created_at=row.created_at,
        session_id=row.session_id,
        reply_id=row.reply_id,
        agent_session_id=row.agent_session_id,
        error_code=row.error_code,
        request=row.request or {},
    )


class SqlDeadLetterRepository(DeadLetterRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, letter: DeadLetter) -> None:
        await self._connection.execute(
            insert(agent_dead_letters).values(
                id=letter.id,
                conversation_id=letter.conversation_id,
                session_id=letter.session_id,
                reply_id=letter.reply_id,
                agent_session_id=letter.agent_session_id,
                error_kind=letter.error_kind,
                error_code=letter.error_code,
                error_message=letter.error_message,
                retryable=letter.retryable,
                request=dict(letter.request),
                created_at=letter.created_at,
            )
        )

    async def recent(self, limit: int) -> Sequence[DeadLetter]:
        query = select(agent_dead_letters).order_by(_d.created_at.desc(), _d.id.desc()).limit(limit)
        return [_letter(row) for row in await self._connection.execute(query)]
