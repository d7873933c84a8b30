"""Running the reference service on a socket: in tests, inside `convo serve`, or on its own."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

from aiohttp import web

from entrypoints.reference_agent.agent_routes import SERVICE
from entrypoints.reference_agent.app import create_app
from entrypoints.reference_agent.config import Clock, ReferenceAgentConfig, utc_now
from entrypoints.reference_agent.service import ReferenceAgent

log = logging.getLogger("convo.reference_agent")


@dataclass(frozen=True, slots=True)
class RunningReferenceAgent:
    url: str
    runner: web.AppRunner

    @property
    def agent(self) -> ReferenceAgent:
        """The service's state, for in-process tests."""
        return self.runner.app[SERVICE]

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_reference_agent(
    config: ReferenceAgentConfig, host: str = "127.0.0.1", port: int = 0, clock: Clock = utc_now
) -> RunningReferenceAgent:
    """Listen on `host:port` (0: a free port) in the running loop; `url` says where."""
    access_log = logging.getLogger("convo.reference_agent.access") if config.access_log else None
    runner = web.AppRunner(create_app(config, clock), access_log=access_log, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096, reuse_address=True)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    bound_host, bound_port = runner.addresses[0][:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    return RunningReferenceAgent(f"http://{shown}:{bound_port}", runner)


async def serve_until_stopped(config: ReferenceAgentConfig, host: str, port: int) -> None:
    """`convo reference-agent`: serve until SIGINT or SIGTERM."""
    running = await start_reference_agent(config, host, port)
    print(f"reference Agent Service is serving on {running.url}", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        log.info("reference Agent Service stopping")
        await running.close()
