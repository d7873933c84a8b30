"""Alembic revisions of the schema. Every revision is reversible and runs on both backends."""
