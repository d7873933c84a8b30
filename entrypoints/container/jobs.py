"""The periodic jobs of a process and the background loops of the API process."""

from __future__ import annotations

import asyncio

from entrypoints.container import Container
from entrypoints.scheduler import Job, Scheduler
from entrypoints.settings import Settings


def scheduled_jobs(container: Container) -> list[Job]:
    """Each job is safe with several instances running it at once: bulk updates, optimistic
    locking per session, and leases that only one instance can renew."""
    use_cases = container.use_cases
    return [
        Job("expire_agent_sessions", lambda: use_cases.sweep_agent_sessions().execute()),
        Job("reap_stale_agent_turns", lambda: use_cases.reap_stale_turns().execute()),
        Job("resume_orphaned_agent_turns", lambda: _resume_orphaned_turns(container)),
        Job("prune_replay_buffers", container.adapters.live().prune),
    ]


async def _resume_orphaned_turns(container: Container) -> int:
    return len(await container.use_cases.recover_agent_turns().execute())


def build_scheduler(container: Container) -> Scheduler:
    settings: Settings = container.settings()
    return Scheduler(
        scheduled_jobs(container),
        settings.scheduler_interval_s,
        container.infrastructure.metrics(),
    )


def start_loops(container: Container, run_scheduler: bool) -> list[asyncio.Future[None]]:
    """The API process's background loops: the Agent Service health watch, and the periodic
    jobs when this process runs them. Cancel them on shutdown."""
    loops = [asyncio.ensure_future(container.use_cases.agent_availability().watch())]
    if run_scheduler:
        loops.append(asyncio.ensure_future(build_scheduler(container).run_forever()))
    return loops
