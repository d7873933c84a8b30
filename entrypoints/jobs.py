"""`convo scheduler` and `convo cleanup --once`: the periodic jobs outside the API process."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import suppress

from entrypoints.container import build_container
from entrypoints.container.jobs import build_scheduler
from entrypoints.container.lifecycle import close_resources, open_resources
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings

log = logging.getLogger(__name__)


async def run_jobs(settings: Settings, forever: bool) -> int:
    configure_logging(settings.log_level)
    if settings.redis_url is None:
        log.warning(
            "CONVO_REDIS_URL is not set: live events stay in this process, so clients of "
            "convo serve will not see what these jobs announce; run them inside convo serve"
        )
    container = build_container(settings)
    await open_resources(container)
    try:
        scheduler = build_scheduler(container)
        if not forever:
            for name, count in (await scheduler.run_once()).items():
                print(f"{name}: {count}")
            return 0
        running = asyncio.ensure_future(scheduler.run_forever())
        loop = asyncio.get_running_loop()
        for stop in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(stop, running.cancel)
        with suppress(asyncio.CancelledError):
            await running
        return 0
    finally:
        await close_resources(container, settings.shutdown_grace_s)
