"""Storage on SQLAlchemy Core: PostgreSQL (asyncpg) in production, SQLite (aiosqlite) by default."""
