"""Whether agent-bound messages should go to the agent right now."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from application.ports.agent_gateway import AgentGateway
from application.ports.metrics import Metrics

log = logging.getLogger(__name__)


class AgentAvailability:
    """The router's view of the Agent Service: available until a health check fails, and
    again once one succeeds. Checks run in the background (`watch`), so a message never
    waits for one; while the service is down, agent-bound messages go to the direct model
    with the reason `agent_unavailable`. No gateway at all (none configured) means down.
    """

    def __init__(
        self,
        gateway: Callable[[], AgentGateway],
        metrics: Metrics,
        interval_s: float,
        timeout_s: float = 2.0,
    ) -> None:
        self._gateway = gateway
        self._metrics = metrics
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._up = True
        self._checked = False

    def available(self) -> bool:
        return self._up

    async def check(self) -> bool:
        try:
            async with asyncio.timeout(self._timeout_s):
                up = await self._gateway().health()
        except Exception as error:
            log.debug("agent health check failed: %r", error)
            up = False
        if up != self._up or not self._checked:
            level = logging.INFO if up else logging.WARNING
            log.log(level, "the Agent Service is %s", "available" if up else "unavailable")
            self._metrics.count("convo_agent_availability_changes", state="up" if up else "down")
        self._up, self._checked = up, True
        return up

    async def watch(self) -> None:
        """Check every interval until cancelled."""
        while True:
            await self.check()
            await asyncio.sleep(self._interval_s)
