"""Process-wide resources: one engine, one HTTP client, one Redis pool, clock, ids, metrics."""

from __future__ import annotations

import aiohttp
from dependency_injector import containers, providers
from redis.asyncio import Redis

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


def _redis_client(settings: Settings) -> Redis | None:
    """One pool per process; None on the embedded default (no Redis configured)."""
    return Redis.from_url(settings.redis_url) if settings.redis_url else None


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
