"""Engines for both backends, tuned for short transactions from many tasks."""

import time
from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from adapters.sql.sqlite_one_trip import BUSY_TIMEOUT_S, one_trip_dbapi


def create_engine(url: str, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    """An engine for `postgresql+asyncpg://…` or `sqlite+aiosqlite://…`.

    SQLite gets WAL (readers never block the writer), a busy timeout, foreign keys, and
    `BEGIN IMMEDIATE` so that two writers queue for the lock instead of one failing when it
    upgrades a read transaction to a write; its statements make one trip each to aiosqlite's
    thread (`sqlite_one_trip`), a transaction's BEGIN going with its first statement.
    """
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        engine = create_async_engine(url, echo=echo, module=one_trip_dbapi())
        _tune_sqlite(engine)
        return engine
    engine = create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size)
    _check_on_checkout(engine)
    return engine


PING_AFTER_IDLE_S = 10.0
PING = "SELECT 1"  # simple query protocol: no prepared statement (safe behind pgbouncer)
_RETURNED_AT = "convo_returned_at"


def _check_on_checkout(engine: AsyncEngine) -> None:
    """Hand out only live PostgreSQL connections, cheaply.

    A connection the server closed (a restart, `pg_terminate_backend`, an idle timeout) is
    known to asyncpg as soon as the loop reads its end, and is replaced without a round trip.
    One idle for `PING_AFTER_IDLE_S` or longer, which a network device may have dropped
    silently, is pinged first with one simple query. SQLAlchemy's `pool_pre_ping` would
    ping every checkout with three round trips (a transaction begun, `;`, rolled back): a
    seventh of the CPU of an agent turn's start. Raising DisconnectionError makes the pool
    discard the connection and check out another. Not caught: a connection the server closed
    in the instant before its checkout, before the loop read its end.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise exc.DisconnectionError("the server closed the connection")
        if time.monotonic() - record.info.get(_RETURNED_AT, 0.0) < PING_AFTER_IDLE_S:
            return
        try:
            dbapi_connection.run_async(lambda connection: connection.execute(PING))
        except Exception as error:
            raise exc.DisconnectionError(f"the connection failed a ping: {error!r}") from error


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=NORMAL",
            f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}",
            "PRAGMA foreign_keys=ON",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.connection.dbapi_connection.begin_with_next_statement()


async def ping_database(engine: AsyncEngine) -> None:
    """Raises unless the database answers a trivial query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
