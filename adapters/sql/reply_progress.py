"""The group writes of streaming agent replies on PostgreSQL: one statement, no transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec
from sqlalchemy import BigInteger, DateTime, Integer, String, Text, Uuid, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sql.connections import autocommit
from adapters.sql.messages import agent_to_json
from application.ports.reply_progress import ReplyProgress
from domain.agent_sessions import AgentSession
from domain.messages import Message

_SAVE = text(
    """
    WITH v AS (
        SELECT * FROM unnest(
            CAST(:ids AS uuid[]), CAST(:versions AS integer[]),
            CAST(:agent_session_ids AS text[]), CAST(:interactions AS timestamptz[]),
            CAST(:event_ids AS bigint[]), CAST(:started AS timestamptz[]),
            CAST(:replies AS uuid[]), CAST(:leases AS timestamptz[]),
            CAST(:reply_ids AS uuid[]), CAST(:reply_contents AS text[]),
            CAST(:reply_statuses AS text[]), CAST(:reply_event_seqs AS bigint[]),
            CAST(:reply_agents AS text[])
        ) AS v(
            id, version, agent_session_id, last_interaction_at, last_event_id,
            turn_started_at, turn_reply_id, turn_lease_until,
            reply_id, content, status, event_seq, agent
        )
    ),
    saved AS (
        UPDATE conversation_agent_sessions AS s
        SET agent_session_id = v.agent_session_id,
            last_interaction_at = v.last_interaction_at,
            last_event_id = v.last_event_id,
            turn_started_at = v.turn_started_at,
            turn_reply_id = v.turn_reply_id,
            turn_lease_until = v.turn_lease_until,
            version = s.version + 1
        FROM v
        WHERE s.id = v.id AND s.version = v.version
        RETURNING s.id
    ),
    written AS (
        UPDATE messages AS m
        SET content = v.content,
            status = v.status,
            event_seq = GREATEST(m.event_seq, v.event_seq),
            agent = CAST(v.agent AS json)
        FROM v JOIN saved ON saved.id = v.id
        WHERE m.id = v.reply_id
    )
    SELECT id FROM saved
    """
).bindparams(
    bindparam("ids", type_=ARRAY(Uuid)),
    bindparam("versions", type_=ARRAY(Integer)),
    bindparam("agent_session_ids", type_=ARRAY(String)),
    bindparam("interactions", type_=ARRAY(DateTime(timezone=True))),
    bindparam("event_ids", type_=ARRAY(BigInteger)),
    bindparam("started", type_=ARRAY(DateTime(timezone=True))),
    bindparam("replies", type_=ARRAY(Uuid)),
    bindparam("leases", type_=ARRAY(DateTime(timezone=True))),
    bindparam("reply_ids", type_=ARRAY(Uuid)),
    bindparam("reply_contents", type_=ARRAY(Text)),
    bindparam("reply_statuses", type_=ARRAY(String)),
    bindparam("reply_event_seqs", type_=ARRAY(BigInteger)),
    bindparam("reply_agents", type_=ARRAY(Text)),
)


class PostgresReplyProgress(ReplyProgress):
    """The sessions' version-checked progress and the replies of those still current in one
    statement (data-modifying CTEs) on a connection in autocommit: one round trip a group,
    where a transaction of two statements takes four. A statement is atomic on its own, so
    a group is still stored all or nothing."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def save(self, progress: Sequence[tuple[AgentSession, Message]]) -> set[UUID]:
        sessions = [session for session, _ in progress]
        values = _columns(sessions, [reply for _, reply in progress])
        async with autocommit(self._engine) as connection:
            saved = set((await connection.execute(_SAVE, values)).scalars())
        for session in sessions:
            if session.id in saved:
                session.version += 1
        return {session.id for session in sessions} - saved


_json = msgspec.json.Encoder().encode


def _columns(sessions: Sequence[AgentSession], replies: Sequence[Message]) -> dict[str, list[Any]]:
    """The statement's parameters: each column's values in one array, a row per reply."""
    agents = (agent_to_json(reply.agent) for reply in replies)
    return {
        "ids": [s.id for s in sessions],
        "versions": [s.version for s in sessions],
        "agent_session_ids": [s.agent_session_id for s in sessions],
        "interactions": [s.last_interaction_at for s in sessions],
        "event_ids": [s.last_event_id for s in sessions],
        "started": [s.turn_started_at for s in sessions],
        "replies": [s.turn_reply_id for s in sessions],
        "leases": [s.turn_lease_until for s in sessions],
        "reply_ids": [reply.id for reply in replies],
        "reply_contents": [reply.content for reply in replies],
        "reply_statuses": [reply.status.value for reply in replies],
        "reply_event_seqs": [reply.event_seq for reply in replies],
        "reply_agents": [None if agent is None else _json(agent).decode() for agent in agents],
    }
