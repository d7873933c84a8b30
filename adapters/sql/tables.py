"""The schema as SQLAlchemy Core tables. Migrations create it; a test keeps the two in step."""

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    MetaData,
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
