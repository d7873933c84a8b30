"""Agent delegation: agent sessions, pending questions, routing overrides, token counts.

Only adds: three new tables and two nullable columns on `messages`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_SESSION = sa.text("status IN ('ACTIVE', 'AWAITING_USER')")
UNANSWERED = sa.text("answered_at IS NULL")
TURN_RUNNING = sa.text("turn_started_at IS NOT NULL")


def upgrade() -> None:
    _agent_sessions()
    _pending_questions()
    op.create_table(
        "routing_overrides",
        sa.Column("org_id", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("agent_routing", sa.Boolean(), nullable=True),
        sa.Column("busy_policy", sa.String(16), nullable=True),
        sa.Column("question_ttl_s", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_id", "user_id", name="pk_routing_overrides"),
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("token_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("token_encoding", sa.String(32), nullable=True))
        batch.add_column(sa.Column("agent", sa.JSON(), nullable=True))
    _dead_letters()


def _dead_letters() -> None:
    op.create_table(
        "agent_dead_letters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("reply_id", sa.Uuid(), nullable=True),
        sa.Column("agent_session_id", sa.String(200), nullable=True),
        sa.Column("error_kind", sa.String(64), nullable=False),
        sa.Column("error_code", sa.String(200), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=False),
        sa.Column("retryable", sa.Boolean(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_agent_dead_letters"),
    )
    op.create_index("ix_agent_dead_letters_created", "agent_dead_letters", ["created_at"])


def _agent_sessions() -> None:
    op.create_table(
        "conversation_agent_sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("agent_session_id", sa.String(200), nullable=True),
        sa.Column("profile_name", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_interaction_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("turn_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("turn_reply_id", sa.Uuid(), nullable=True),
        sa.Column("turn_lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_conversation_agent_sessions"),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name="fk_conversation_agent_sessions_conversation_id_conversations",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "agent_session_id", name="uq_conversation_agent_sessions_agent_session_id"
        ),
    )
    op.create_index(
        "ix_conversation_agent_sessions_conversation",
        "conversation_agent_sessions",
        ["conversation_id", "created_at"],
    )
    op.create_index(
        "ix_conversation_agent_sessions_idle",
        "conversation_agent_sessions",
        ["status", "last_interaction_at"],
    )
    op.create_index(
        "ix_conversation_agent_sessions_turn_lease",
        "conversation_agent_sessions",
        ["turn_lease_until"],
        postgresql_where=TURN_RUNNING,
        sqlite_where=TURN_RUNNING,
    )
    op.create_index(
        "uq_conversation_agent_sessions_live",
        "conversation_agent_sessions",
        ["conversation_id"],
        unique=True,
        postgresql_where=LIVE_SESSION,
        sqlite_where=LIVE_SESSION,
    )


def _pending_questions() -> None:
    op.create_table(
        "agent_pending_questions",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("question_id", sa.String(200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("session_id", "question_id", name="pk_agent_pending_questions"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["conversation_agent_sessions.id"],
            name="fk_agent_pending_questions_session",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_agent_pending_questions_unanswered",
        "agent_pending_questions",
        ["expires_at"],
        postgresql_where=UNANSWERED,
        sqlite_where=UNANSWERED,
    )


def downgrade() -> None:
    op.drop_table("agent_dead_letters")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("agent")
        batch.drop_column("token_encoding")
        batch.drop_column("token_count")
    op.drop_table("routing_overrides")
    op.drop_table("agent_pending_questions")
    op.drop_table("conversation_agent_sessions")
