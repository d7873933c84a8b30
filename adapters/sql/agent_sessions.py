from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    Table,
    Update,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.errors import is_unique_violation
from adapters.sql.sqlite_deferred_writes import (
    add_session_with_next_trip,
    save_session_with_next_trip,
)
from adapters.sql.tables import agent_pending_questions, conversation_agent_sessions
from application.ports.agent_sessions import (
    AgentSessionRepository,
    LiveSessionExists,
    StaleAgentSession,
)
from domain.agent_sessions import LIVE_STATUSES, AgentSession, PendingQuestion, SessionStatus

_s = conversation_agent_sessions.c
_q = agent_pending_questions.c
_LIVE = [status.value for status in LIVE_STATUSES]


def _session(row: Row, question: PendingQuestion | None) -> AgentSession:
    return AgentSession(
        id=row.id,
        conversation_id=row.conversation_id,
        profile_name=row.profile_name,
        status=SessionStatus(row.status),
        created_at=row.created_at,
        last_interaction_at=row.last_interaction_at,
        agent_session_id=row.agent_session_id,
        last_event_id=row.last_event_id,
        turn_started_at=row.turn_started_at,
        question=question,
        version=row.version,
        turn_reply_id=row.turn_reply_id,
        turn_lease_until=row.turn_lease_until,
    )


def _question(row: Row) -> PendingQuestion:
    return PendingQuestion(
        question_id=row.question_id,
        text=row.text,
        asked_at=row.asked_at,
        expires_at=row.expires_at,
        choices=tuple(row.choices),
        answered_at=row.answered_at,
        answer=row.answer,
    )


_STATE_COLUMNS = (
    "agent_session_id",
    "status",
    "last_interaction_at",
    "last_event_id",
    "turn_started_at",
    "turn_reply_id",
    "turn_lease_until",
)


def _state(session: AgentSession) -> dict[str, Any]:
    """The columns a session's changes touch (`_STATE_COLUMNS`), by name."""
    return {
        "agent_session_id": session.agent_session_id,
        "status": session.status.value,
        "last_interaction_at": session.last_interaction_at,
        "last_event_id": session.last_event_id,
        "turn_started_at": session.turn_started_at,
        "turn_reply_id": session.turn_reply_id,
        "turn_lease_until": session.turn_lease_until,
    }


def _versioned_update(columns: Sequence[str]) -> Update:
    """Write `columns` (bound as `b_<name>`) if the row still has `b_version`, and bump it."""
    return (
        update(conversation_agent_sessions)
        .where(_s.id == bindparam("b_id"), _s.version == bindparam("b_version"))
        .values(
            {name: bindparam(f"b_{name}") for name in columns}
            | {"version": bindparam("b_version") + 1}
        )
    )


# Built once: a session is saved at every coalesced write of a streaming reply, and building
# the statement cost more than running it (benchmarks/live_agent_relay.py, docs/performance.md).
_SAVE = _versioned_update(_STATE_COLUMNS)
_ADDED_COLUMNS = (*_STATE_COLUMNS, "id", "conversation_id", "profile_name", "created_at", "version")
_ADD = insert(conversation_agent_sessions).values(
    {name: bindparam(f"b_{name}") for name in _ADDED_COLUMNS}
)
_QUESTION_COLUMNS = ("text", "choices", "asked_at", "expires_at", "answered_at", "answer")
_UPDATE_QUESTION = (
    update(agent_pending_questions)
    .where(
        _q.session_id == bindparam("b_session_id"),
        _q.question_id == bindparam("b_question_id"),
    )
    .values({name: bindparam(f"b_{name}") for name in _QUESTION_COLUMNS})
)
_ADD_QUESTION = insert(agent_pending_questions).values(
    {name: bindparam(f"b_{name}") for name in ("session_id", "question_id", *_QUESTION_COLUMNS)}
)

PROGRESS_COLUMNS = (
    "agent_session_id",
    "last_interaction_at",
    "last_event_id",
    "turn_started_at",
    "turn_reply_id",
    "turn_lease_until",
)
"""What a running turn changes in its session: what every group write of its replies stores."""
_SAVE_PROGRESS = _versioned_update(PROGRESS_COLUMNS)


# A session is read with its latest question in one round trip; the lookups are built once,
# as they run at every turn's start.
_LATEST_ASKED = (
    select(func.max(_q.asked_at))
    .where(_q.session_id == _s.id)
    .correlate(conversation_agent_sessions)
    .scalar_subquery()
)
_WITH_QUESTION = select(conversation_agent_sessions, agent_pending_questions).outerjoin(
    agent_pending_questions, and_(_q.session_id == _s.id, _q.asked_at == _LATEST_ASKED)
)
_BY_ID = _WITH_QUESTION.where(_s.id == bindparam("b_id"))
_IS_LIVE = _s.status.in_([literal_column(f"'{status}'") for status in _LIVE])
"""Live statuses written into the statement: a bound list would be expanded into the SQL
again at every execution, a fifth of a session read's client CPU."""


def with_live_session(query: Select[Any], conversations: Table) -> Select[Any]:
    """`query` on `conversations` with each conversation's live session and that session's
    latest question joined (NULLs for none), under the columns' own names: what
    `live_session_in` reads back. The partial unique index on live sessions keeps it to one
    row per conversation."""
    joined = conversations.outerjoin(
        conversation_agent_sessions, and_(_s.conversation_id == conversations.c.id, _IS_LIVE)
    ).outerjoin(agent_pending_questions, and_(_q.session_id == _s.id, _q.asked_at == _LATEST_ASKED))
    return query.add_columns(conversation_agent_sessions, agent_pending_questions).select_from(
        joined
    )


def live_session_in(row: Row) -> AgentSession | None:
    """The session a `with_live_session` query joined to `row`, if any."""
    if row.id is None:
        return None
    return _session(row, None if row.question_id is None else _question(row))


_LIVE_FOR = _WITH_QUESTION.where(_s.conversation_id == bindparam("b_conversation_id"), _IS_LIVE)
_BY_AGENT_SESSION_ID = _WITH_QUESTION.where(_s.agent_session_id == bindparam("b_agent_id"))
_LATEST_FOR = (
    _WITH_QUESTION.where(_s.conversation_id == bindparam("b_conversation_id"))
    .order_by(_s.created_at.desc(), _s.id.desc())
    .limit(1)
)


class SqlAgentSessionRepository(AgentSessionRepository):
    """Sessions in `conversation_agent_sessions`, their questions in `agent_pending_questions`.
    The partial unique index on live sessions turns a second live session into
    LiveSessionExists; `version` guards every save."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, session: AgentSession) -> None:
        values = _state(session) | {
            "id": session.id,
            "conversation_id": session.conversation_id,
            "profile_name": session.profile_name,
            "created_at": session.created_at,
            "version": session.version,
        }
        if self._connection.dialect.name == "sqlite" and session.question is None:
            await add_session_with_next_trip(self._connection, _ADDED_COLUMNS, values)
            return
        try:
            await self._connection.execute(_ADD, {f"b_{k}": v for k, v in values.items()})
        except IntegrityError as error:
            if is_unique_violation(error):
                raise LiveSessionExists(str(session.conversation_id)) from error
            raise
        await self._write_question(session)

    async def get(self, session_id: UUID) -> AgentSession | None:
        return await self._one(_BY_ID, {"b_id": session_id})

    async def live_for(self, conversation_id: UUID) -> AgentSession | None:
        return await self._one(_LIVE_FOR, {"b_conversation_id": conversation_id})

    async def latest_for(self, conversation_id: UUID) -> AgentSession | None:
        return await self._one(_LATEST_FOR, {"b_conversation_id": conversation_id})

    async def by_agent_session_id(self, agent_session_id: str) -> AgentSession | None:
        return await self._one(_BY_AGENT_SESSION_ID, {"b_agent_id": agent_session_id})

    async def _one(self, query: Select[Any], values: dict[str, Any]) -> AgentSession | None:
        row = (await self._connection.execute(query, values)).first()
        if row is None:
            return None
        return _session(row, None if row.question_id is None else _question(row))

    async def save(self, session: AgentSession) -> None:
        if self._connection.dialect.name == "sqlite" and session.question is None:
            row = _state(session) | {"id": session.id, "version": session.version}
            await save_session_with_next_trip(self._connection, _STATE_COLUMNS, row)
            session.version += 1
            return
        state = {f"b_{name}": value for name, value in _state(session).items()}
        result = await self._connection.execute(
            _SAVE, state | {"b_id": session.id, "b_version": session.version}
        )
        if result.rowcount != 1:
            raise StaleAgentSession(str(session.id))
        session.version += 1
        await self._write_question(session)

    async def save_progress(self, sessions: Sequence[AgentSession]) -> list[AgentSession]:
        saved = {s.id for s in sessions if await self._save_progress_one(s)}
        for session in sessions:
            if session.id in saved:
                session.version += 1
        return [session for session in sessions if session.id not in saved]

    async def _save_progress_one(self, session: AgentSession) -> bool:
        values = {f"b_{name}": getattr(session, name) for name in PROGRESS_COLUMNS}
        values |= {"b_id": session.id, "b_version": session.version}
        return (await self._connection.execute(_SAVE_PROGRESS, values)).rowcount == 1

    async def _write_question(self, session: AgentSession) -> None:
        question = session.question
        if question is None:
            return
        values = {
            "b_session_id": session.id,
            "b_question_id": question.question_id,
            "b_text": question.text,
            "b_choices": list(question.choices),
            "b_asked_at": question.asked_at,
            "b_expires_at": question.expires_at,
            "b_answered_at": question.answered_at,
            "b_answer": question.answer,
        }
        result = await self._connection.execute(_UPDATE_QUESTION, values)
        if result.rowcount == 0:
            await self._connection.execute(_ADD_QUESTION, values)

    async def complete_idle(self, idle_since: datetime, now: datetime) -> int:
        result = await self._connection.execute(
            update(conversation_agent_sessions)
            .where(
                _s.status == SessionStatus.ACTIVE.value,
                _s.turn_started_at.is_(None),
                _s.last_interaction_at <= idle_since,
            )
            .values(
                status=SessionStatus.COMPLETED.value,
                last_interaction_at=now,
                version=_s.version + 1,
            )
        )
        return result.rowcount

    async def with_expired_questions(self, now: datetime, limit: int) -> Sequence[AgentSession]:
        query = (
            select(_s.id)
            .join(agent_pending_questions, _q.session_id == _s.id)
            .where(
                _s.status == SessionStatus.AWAITING_USER.value,
                _q.answered_at.is_(None),
                _q.expires_at <= now,
            )
            .order_by(_q.expires_at, _s.id)
            .limit(limit)
        )
        ids = (await self._connection.execute(query)).scalars().all()
        found = [await self.get(session_id) for session_id in ids]
        return [session for session in found if session is not None]

    async def with_unleased_turns(self, now: datetime, limit: int) -> Sequence[AgentSession]:
        return await self._many(
            _s.turn_started_at.is_not(None),
            or_(_s.turn_lease_until.is_(None), _s.turn_lease_until <= now),
            limit=limit,
        )

    async def with_stale_turns(self, quiet_since: datetime, limit: int) -> Sequence[AgentSession]:
        return await self._many(
            _s.turn_started_at.is_not(None),
            _s.last_interaction_at <= quiet_since,
            limit=limit,
        )

    async def _many(self, *where: ColumnElement[bool], limit: int) -> Sequence[AgentSession]:
        query = select(_s.id).where(*where).order_by(_s.last_interaction_at, _s.id).limit(limit)
        ids = (await self._connection.execute(query)).scalars().all()
        found = [await self.get(session_id) for session_id in ids]
        return [session for session in found if session is not None]
