"""Schema migrations, driven from code: `convo db …`, `convo serve` and the tests use these."""

from __future__ import annotations

import argparse
import asyncio
import sys
from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from entrypoints.settings import Settings


def safe_url(url: str) -> str:
    """The database URL with any password masked, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("migrations")))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(url: str, revision: str = "head") -> None:
    """Safe inside a running event loop: Alembic's env runs its own loop in a worker thread."""
    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)


async def downgrade(url: str, revision: str) -> None:
    await asyncio.to_thread(command.downgrade, alembic_config(url), revision)


async def current_revision(url: str) -> str | None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()


def revisions(url: str) -> list[str]:
    """Every revision id, oldest first."""
    script = ScriptDirectory.from_config(alembic_config(url))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


async def run_db_command(settings: Settings, action: str, arguments: argparse.Namespace) -> int:
    url = settings.database_url
    try:
        if action == "upgrade":
            await upgrade(url, arguments.revision)
        elif action == "downgrade":
            await downgrade(url, arguments.revision)
        revision = await current_revision(url)
    except Exception as error:
        print(f"convo: database {safe_url(url)}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"{safe_url(url)} is at revision {revision or 'none (empty)'}")
    return 0
