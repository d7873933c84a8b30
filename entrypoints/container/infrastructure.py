"""Process-wide resources: one engine, one HTTP client, one Redis pool, clock, ids, metrics."""

from __future__ import annotations

import aiohttp
from dependency_injector import containers, providers
from redis.asyncio import BlockingConnectionPool, Redis

from adapters.sql.engine import create_engine
from adapters.system.clock import SystemClock
from adapters.system.ids import Uuid7Generator
from adapters.telemetry.metrics import OpenTelemetryMetrics
from entrypoints.settings import Settings


def _http_session(settings: Settings) -> aiohttp.ClientSession:
    """One pooled HTTP client per process; each adapter sets its own per-call timeouts."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=settings.http_pool_size, limit_per_host=settings.http_pool_size_per_host
        ),
        timeout=aiohttp.ClientTimeout(total=None),
    )


REDIS_CONNECTIONS = 100
REDIS_CONNECTION_WAIT_S = 10.0


def _redis_client(settings: Settings) -> Redis | None:
    """One pool per process; None on the embedded default (no Redis configured).

    A command finding every connection busy waits for one (up to REDIS_CONNECTION_WAIT_S)
    instead of failing at once, as redis-py's default pool would: a thousand clients
    connecting together each ask Redis where their conversation's numbering stands."""
    if not settings.redis_url:
        return None
    pool = BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_CONNECTION_WAIT_S
    )
    return Redis(connection_pool=pool)


class Infrastructure(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    engine = providers.Singleton(
        create_engine,
        url=settings.provided.database_url,
        pool_size=settings.provided.database_pool_size,
    )
    http = providers.Singleton(_http_session, settings)
    redis = providers.Singleton(_redis_client, settings)
    metrics = providers.Singleton(OpenTelemetryMetrics)
    clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(Uuid7Generator)
