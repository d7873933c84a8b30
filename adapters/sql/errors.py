import sqlite3

from sqlalchemy.exc import IntegrityError


def is_unique_violation(error: IntegrityError | sqlite3.IntegrityError) -> bool:
    """True when a unique index refused a row, on asyncpg and on aiosqlite alike, as SQLAlchemy
    wraps it or as sqlite3 raises it in SQLite's one-trip writes."""
    original = error.orig if isinstance(error, IntegrityError) else error
    return (
        getattr(original, "sqlstate", None) == "23505"
        or getattr(original, "sqlite_errorname", None) == "SQLITE_CONSTRAINT_UNIQUE"
    )
