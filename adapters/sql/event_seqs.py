"""Which live event each message last reflects, stored on PostgreSQL in one statement."""

from collections.abc import Mapping
from uuid import UUID

from sqlalchemy import BigInteger, Uuid, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.connections import autocommit
from application.ports.event_seq_store import EventSeqStore

_RAISE = text(
    """
    UPDATE messages AS m SET event_seq = v.seq
    FROM unnest(CAST(:ids AS uuid[]), CAST(:seqs AS bigint[])) AS v(id, seq)
    WHERE m.id = v.id AND m.event_seq < v.seq
    """
).bindparams(bindparam("ids", type_=ARRAY(Uuid)), bindparam("seqs", type_=ARRAY(BigInteger)))


class PostgresEventSeqStore(EventSeqStore):
    """One statement on a connection in autocommit: one round trip, where a transaction
    takes three (BEGIN, the update, COMMIT). A statement is atomic on its own."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, seqs: Mapping[UUID, int]) -> None:
        values = {"ids": list(seqs), "seqs": list(seqs.values())}
        async with autocommit(self._engine) as connection:
            await connection.execute(_RAISE, values)
