"""The life of a process's resources: open, settle what a previous run left, check, close."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

from adapters.redis.live_events import RedisLiveEvents
from adapters.sql.engine import ping_database
from entrypoints.container import Container
from entrypoints.settings import Settings

log = logging.getLogger(__name__)


async def open_resources(container: Container) -> None:
    """Create the process-wide resources inside the running event loop."""
    container.infrastructure.engine()
    container.infrastructure.http()
    await asyncio.to_thread(container.adapters.token_counter().warm)


async def settle_unfinished_work(container: Container) -> None:
    """At the start of the API process: settle what a previous run left unfinished. Only a
    single instance can tell that nobody else works on it: it resumes every agent turn that
    was running and fails the other replies left streaming. With several instances (Redis),
    the scheduler resumes turns whose lease lapsed and reaps what stays stale."""
    settings: Settings = container.settings()
    if settings.redis_url is not None:
        return
    try:
        resumed = await container.use_cases.recover_agent_turns().execute(everything=True)
        await container.use_cases.fail_interrupted_replies().execute(resumed)
    except Exception:
        log.exception("could not settle unfinished work; /health/ready will tell why")


async def close_resources(container: Container, grace_s: float) -> None:
    """Stop background work (each reply records where it stopped), then close the clients
    and the database pool."""
    await container.adapters.background().close(grace_s)
    live = container.adapters.live()
    if isinstance(live, RedisLiveEvents):
        await live.close()
    redis = container.infrastructure.redis()
    if redis is not None:
        await redis.aclose()
    await container.infrastructure.http().close()
    await container.infrastructure.engine().dispose()
    container.infrastructure.metrics().shutdown()


async def readiness(container: Container) -> tuple[bool, dict[str, dict[str, str]]]:
    """Whether the instance can serve, and each dependency's state for `/health/ready`. The
    Agent Service is reported as the background health watch last saw it (a probe never waits
    on it) and is not required: without it agent-bound messages go to the direct model."""
    checks = {"database": await probe(ping_database(container.infrastructure.engine()))}
    redis = container.infrastructure.redis()
    if redis is not None:
        checks["redis"] = await probe(redis.ping())
    ready = all(check["status"] == "ok" for check in checks.values())
    agent_up = container.use_cases.agent_availability().available()
    checks["agent_service"] = {"status": "ok" if agent_up else "down"}
    return ready, checks


async def probe(check: Awaitable[object], timeout_s: float = 2.0) -> dict[str, str]:
    try:
        async with asyncio.timeout(timeout_s):
            await check
    except Exception as error:
        return {"status": "down", "error": type(error).__name__}
    return {"status": "ok"}


def metrics_exposition(container: Container) -> bytes:
    """What `/metrics` serves: every metric in the Prometheus text format."""
    return container.infrastructure.metrics().exposition()
