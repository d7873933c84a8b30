"""Liveness and readiness for orchestrators and load balancers."""

from __future__ import annotations

from litestar import Controller, Response, get
from litestar.datastructures import State

from entrypoints.container.lifecycle import metrics_exposition, readiness
from entrypoints.http.dependencies import container_of


class HealthController(Controller):
    path = "/health"
    tags = ["operations"]

    @get("/", summary="Liveness: the process is up and serving")
    async def live(self) -> dict[str, str]:
        return {"status": "ok"}

    @get(
        "/ready",
        summary="Readiness: the database (and Redis) answer; the Agent Service is reported",
        description="503 when a required dependency is down. A down Agent Service makes the "
        "status `degraded` (agent-bound messages go to the direct model) but not unready.",
    )
    async def ready(self, state: State) -> Response[dict[str, object]]:
        ready, checks = await readiness(container_of(state))
        degraded = any(check["status"] != "ok" for check in checks.values())
        status = "unavailable" if not ready else "degraded" if degraded else "ok"
        body: dict[str, object] = {"status": status, "checks": checks}
        return Response(body, status_code=200 if ready else 503)


class MetricsController(Controller):
    path = "/metrics"
    tags = ["operations"]

    @get("/", summary="Prometheus metrics", media_type="text/plain; version=0.0.4")
    async def metrics(self, state: State) -> bytes:
        return metrics_exposition(container_of(state))
