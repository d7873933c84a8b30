from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Insert,
    Integer,
    Row,
    Update,
    bindparam,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import TextClause

from adapters.sql.errors import is_unique_violation
from adapters.sql.rows import execute_rows
from adapters.sql.sqlite_deferred_writes import add_exchange_with_next_trip
from adapters.sql.tables import conversations, messages
from application.ports.repositories import DuplicateIdempotencyKey, MessageRepository
from domain.conversations import Conversation
from domain.messages import AgentReplyInfo, Message, MessageStatus, Role, ToolStatus, ToolUse

_m = messages.c


_PROGRESS: dict[str, Update] = {}


def _progress_statement(dialect: str) -> Update:
    """The write of a streaming reply's progress, built once per dialect: it runs at every
    coalesced write, and building it cost more than running it. `event_seq` never goes back
    (GREATEST on PostgreSQL, the scalar MAX on SQLite)."""
    statement = _PROGRESS.get(dialect)
    if statement is None:
        greatest = func.max if dialect == "sqlite" else func.greatest
        seq = bindparam("b_event_seq", type_=Integer)
        statement = _PROGRESS[dialect] = (
            update(messages)
            .where(_m.id == bindparam("b_id"))
            .values(
                content=bindparam("b_content"),
                status=bindparam("b_status"),
                event_seq=greatest(_m.event_seq, seq),
                agent=bindparam("b_agent"),
            )
        )
    return statement


# PostgreSQL: every reply of a group write in one statement, one array per column, rather
# than an executemany whose parameters SQLAlchemy processes row by row (the `agent` column
# travels as JSON text).
def _added(message: Message, idempotency_key: str | None) -> dict[str, Any]:
    return {
        "b_id": message.id,
        "b_conversation_id": message.conversation_id,
        "b_role": message.role.value,
        "b_content": message.content,
        "b_status": message.status.value,
        "b_created_at": message.created_at,
        "b_reply_to_id": message.reply_to,
        "b_idempotency_key": idempotency_key,
        "b_event_seq": message.event_seq,
        "b_agent": agent_to_json(message.agent),
    }


def message_from_row(row: Row) -> Message:
    return Message(
        id=row.id,
        conversation_id=row.conversation_id,
        role=Role(row.role),
        content=row.content,
        status=MessageStatus(row.status),
        created_at=row.created_at,
        reply_to=row.reply_to_id,
        event_seq=row.event_seq,
        agent=_agent_from_json(row.agent),
    )


def agent_to_json(info: AgentReplyInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    return {
        "session_id": str(info.session_id) if info.session_id else None,
        "tools": [
            {"call_id": u.call_id, "tool": u.tool, "status": u.status.value, "ms": u.duration_ms}
            for u in info.tools
        ],
        "question_id": info.question_id,
    }


def _agent_from_json(data: dict[str, Any] | None) -> AgentReplyInfo | None:
    if data is None:
        return None
    return AgentReplyInfo(
        session_id=UUID(data["session_id"]) if data.get("session_id") else None,
        tools=[
            ToolUse(t["call_id"], t["tool"], ToolStatus(t["status"]), t.get("ms"))
            for t in data.get("tools", [])
        ],
        question_id=data.get("question_id"),
    )


# Built once: these run for every message sent and every reply started.
_ADDED_COLUMNS = (
    "id",
    "conversation_id",
    "role",
    "content",
    "status",
    "created_at",
    "reply_to_id",
    "idempotency_key",
    "event_seq",
    "agent",
)
_ADD = insert(messages).values({name: bindparam(f"b_{name}") for name in _ADDED_COLUMNS})


def _exchange_statement(rows: int) -> TextClause:
    """PostgreSQL: `rows` messages stored and their conversation's activity written in one
    statement (the conversation's update as a data-modifying CTE), one round trip; SQLite,
    which has no such CTEs, runs its two statements on the connection's thread with the
    transaction's next trip (`sqlite_deferred_writes`). Text, because SQLAlchemy compiles a
    multi-row INSERT construct again at every execution; only the tables' own names are
    spliced in."""
    values = ", ".join(
        "(" + ", ".join(f":b_{name}_{n}" for name in _ADDED_COLUMNS) + ")" for n in range(rows)
    )
    statement = text(
        f"WITH touched AS (UPDATE {conversations.name} SET updated_at = :b_updated_at "  # noqa: S608
        f"WHERE id = :b_touched_id) "
        f"INSERT INTO {messages.name} ({', '.join(_ADDED_COLUMNS)}) VALUES {values}"
    )
    types = {
        "b_updated_at": conversations.c.updated_at.type,
        "b_touched_id": conversations.c.id.type,
    }
    types |= {f"b_{name}_{n}": _m[name].type for n in range(rows) for name in _ADDED_COLUMNS}
    return statement.bindparams(*(bindparam(name, type_=kind) for name, kind in types.items()))


_ADD_EXCHANGE = _exchange_statement(2)
_GET = select(messages).where(_m.id == bindparam("b_id"))
_RAISE_EVENT_SEQ = (
    update(messages)
    .where(_m.id == bindparam("b_id"), _m.event_seq < bindparam("b_seq", type_=Integer))
    .values(event_seq=bindparam("b_seq", type_=Integer))
)
_MAX_EVENT_SEQ = select(func.coalesce(func.max(_m.event_seq), 0)).where(
    _m.conversation_id == bindparam("b_conversation_id")
)


class SqlMessageRepository(MessageRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, message: Message, idempotency_key: str | None = None) -> None:
        await self._add(_ADD, _added(message, idempotency_key), idempotency_key)

    async def add_with_reply(
        self,
        conversation: Conversation,
        message: Message,
        reply: Message,
        idempotency_key: str | None = None,
    ) -> None:
        rows = [_added(message, idempotency_key), _added(reply, None)]
        if self._connection.dialect.name == "sqlite":
            await add_exchange_with_next_trip(
                self._connection,
                _ADDED_COLUMNS,
                rows,
                conversation.id,
                conversation.updated_at,
                idempotency_key,
            )
            return
        touched = {"b_touched_id": conversation.id, "b_updated_at": conversation.updated_at}
        numbered = {f"{k}_{n}": v for n, row in enumerate(rows) for k, v in row.items()}
        await self._add(_ADD_EXCHANGE, numbered | touched, idempotency_key)

    async def _add(
        self,
        statement: Insert | TextClause,
        values: dict[str, Any] | list[dict[str, Any]],
        idempotency_key: str | None,
    ) -> None:
        try:
            await self._connection.execute(statement, values)
        except IntegrityError as error:
            if idempotency_key is not None and is_unique_violation(error):
                raise DuplicateIdempotencyKey(idempotency_key) from error
            raise

    async def _one(self, *where: object) -> Message | None:
        row = (await self._connection.execute(select(messages).where(*where))).first()
        return None if row is None else message_from_row(row)

    async def get(self, message_id: UUID) -> Message | None:
        row = (await self._connection.execute(_GET, {"b_id": message_id})).first()
        return None if row is None else message_from_row(row)

    async def by_idempotency_key(self, conversation_id: UUID, key: str) -> Message | None:
        return await self._one(_m.conversation_id == conversation_id, _m.idempotency_key == key)

    async def reply_to(self, message_id: UUID) -> Message | None:
        return await self._one(_m.reply_to_id == message_id)

    async def page(
        self, conversation_id: UUID, limit: int, before: UUID | None
    ) -> Sequence[Message]:
        query = select(messages).where(_m.conversation_id == conversation_id)
        if before is not None:
            cursor = (
                await self._connection.execute(
                    select(_m.created_at, _m.id).where(
                        _m.id == before, _m.conversation_id == conversation_id
                    )
                )
            ).first()
            if cursor is None:
                return []
            query = query.where(tuple_(_m.created_at, _m.id) < tuple_(cursor.created_at, cursor.id))
        query = query.order_by(_m.created_at.desc(), _m.id.desc()).limit(limit)
        rows = (await self._connection.execute(query)).all()
        return [message_from_row(row) for row in reversed(rows)]

    async def latest(self, conversation_id: UUID, limit: int) -> Sequence[Message]:
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
        return [message_from_row(row) for row in reversed(rows)]

    async def save_progress(self, *messages: Message) -> None:
        rows = [
            {
                "b_id": message.id,
                "b_content": message.content,
                "b_status": message.status.value,
                "b_event_seq": message.event_seq,
                "b_agent": agent_to_json(message.agent),
            }
            for message in messages
        ]
        await execute_rows(
            self._connection, _progress_statement(self._connection.dialect.name), rows
        )

    async def record_event_seqs(self, seqs: Mapping[UUID, int]) -> None:
        rows = [{"b_id": message_id, "b_seq": seq} for message_id, seq in seqs.items()]
        await execute_rows(self._connection, _RAISE_EVENT_SEQ, rows)

    async def max_event_seq(self, conversation_id: UUID) -> int:
        values = {"b_conversation_id": conversation_id}
        return int((await self._connection.execute(_MAX_EVENT_SEQ, values)).scalar_one())

    async def changed_since(self, conversation_id: UUID, seq: int) -> Sequence[Message]:
        query = (
            select(messages)
            .where(_m.conversation_id == conversation_id, _m.event_seq > seq)
            .order_by(_m.event_seq)
        )
        return [message_from_row(row) for row in await self._connection.execute(query)]

    async def streaming(self) -> Sequence[Message]:
        query = select(messages).where(_m.status == MessageStatus.STREAMING.value)
        return [message_from_row(row) for row in await self._connection.execute(query)]
