"""The schema as SQLAlchemy Core tables. Migrations create it; a test keeps the two in step."""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
    text,
)

from adapters.sql.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", String(200), nullable=False),
    Column("user_id", String(200), nullable=False),
    Column("title", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_conversations_owner_recent", "org_id", "user_id", "updated_at", "id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column(
        "conversation_id",
        Uuid,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("reply_to_id", Uuid, ForeignKey("messages.id", ondelete="SET NULL"), nullable=True),
    Column("idempotency_key", String(200), nullable=True),
    Column("event_seq", BigInteger, nullable=False, server_default=text("0")),
    # Revision 0002: the message's token count, remembered with the vocabulary that made it.
    Column("token_count", Integer, nullable=True),
    Column("token_encoding", String(32), nullable=True),
    Column("agent", JSON, nullable=True),
    Index("ix_messages_conversation_created", "conversation_id", "created_at", "id"),
    Index("ix_messages_conversation_event_seq", "conversation_id", "event_seq"),
    Index("ix_messages_reply_to", "reply_to_id"),
    Index(
        "uq_messages_conversation_idempotency_key",
        "conversation_id",
        "idempotency_key",
        unique=True,
        postgresql_where=text("idempotency_key IS NOT NULL"),
        sqlite_where=text("idempotency_key IS NOT NULL"),
    ),
    Index(
        "ix_messages_streaming",
        "status",
        postgresql_where=text("status = 'streaming'"),
        sqlite_where=text("status = 'streaming'"),
    ),
)

LIVE_SESSION = text("status IN ('ACTIVE', 'AWAITING_USER')")

conversation_agent_sessions = Table(
    "conversation_agent_sessions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column(
        "conversation_id",
        Uuid,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("agent_session_id", String(200), nullable=True, unique=True),
    Column("profile_name", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_interaction_at", UtcDateTime, nullable=False),
    Column("last_event_id", BigInteger, nullable=False, server_default=text("0")),
    Column("turn_started_at", UtcDateTime, nullable=True),
    Column("turn_reply_id", Uuid, nullable=True),
    Column("turn_lease_until", UtcDateTime, nullable=True),
    Column("version", Integer, nullable=False, server_default=text("0")),
    Index("ix_conversation_agent_sessions_conversation", "conversation_id", "created_at"),
    Index("ix_conversation_agent_sessions_idle", "status", "last_interaction_at"),
    Index(
        "ix_conversation_agent_sessions_turn_lease",
        "turn_lease_until",
        postgresql_where=text("turn_started_at IS NOT NULL"),
        sqlite_where=text("turn_started_at IS NOT NULL"),
    ),
    Index(
        "uq_conversation_agent_sessions_live",
        "conversation_id",
        unique=True,
        postgresql_where=LIVE_SESSION,
        sqlite_where=LIVE_SESSION,
    ),
)

agent_pending_questions = Table(
    "agent_pending_questions",
    metadata,
    Column(
        "session_id",
        Uuid,
        ForeignKey(
            "conversation_agent_sessions.id",
            ondelete="CASCADE",
            name="fk_agent_pending_questions_session",
        ),
        nullable=False,
    ),
    Column("question_id", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Column("choices", JSON, nullable=False),
    Column("asked_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("answered_at", UtcDateTime, nullable=True),
    Column("answer", Text, nullable=True),
    PrimaryKeyConstraint("session_id", "question_id", name="pk_agent_pending_questions"),
    Index(
        "ix_agent_pending_questions_unanswered",
        "expires_at",
        postgresql_where=text("answered_at IS NULL"),
        sqlite_where=text("answered_at IS NULL"),
    ),
)

# One row per organisation (user_id '') or per user of an organisation; NULL inherits.
routing_overrides = Table(
    "routing_overrides",
    metadata,
    Column("org_id", String(200), nullable=False),
    Column("user_id", String(200), nullable=False),
    Column("agent_routing", Boolean, nullable=True),
    Column("busy_policy", String(16), nullable=True),
    Column("question_ttl_s", Float, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("org_id", "user_id", name="pk_routing_overrides"),
)

agent_dead_letters = Table(
    "agent_dead_letters",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("conversation_id", Uuid, nullable=False),
    Column("session_id", Uuid, nullable=True),
    Column("reply_id", Uuid, nullable=True),
    Column("agent_session_id", String(200), nullable=True),
    Column("error_kind", String(64), nullable=False),
    Column("error_code", String(200), nullable=True),
    Column("error_message", Text, nullable=False),
    Column("retryable", Boolean, nullable=False),
    Column("request", JSON, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("replayed_at", UtcDateTime, nullable=True),
    Index("ix_agent_dead_letters_created", "created_at"),
)
