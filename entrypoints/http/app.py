"""The Litestar application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin

from entrypoints.container import Container
from entrypoints.container.jobs import start_loops
from entrypoints.container.lifecycle import (
    close_resources,
    open_resources,
    settle_unfinished_work,
)
from entrypoints.http.admin import RoutingAdminController
from entrypoints.http.agent import AgentController
from entrypoints.http.conversations import ConversationController
from entrypoints.http.dependencies import API_DEPENDENCIES
from entrypoints.http.errors import EXCEPTION_HANDLERS
from entrypoints.http.health import HealthController, MetricsController
from entrypoints.http.live import LiveController
from entrypoints.settings import Settings

API_PREFIX = "/api/v1"


def create_app(container: Container, jwt_secret: str) -> Litestar:
    """The HTTP app over a container. Its lifespan opens the container's resources on start
    and closes them on shutdown."""
    settings: Settings = container.settings()

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await open_resources(container)
        await settle_unfinished_work(container)
        loops = start_loops(container, run_scheduler=settings.scheduler_enabled)
        try:
            yield
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await close_resources(container, settings.shutdown_grace_s)

    api = Router(
        path=API_PREFIX,
        route_handlers=[
            ConversationController,
            AgentController,
            LiveController,
            RoutingAdminController,
        ],
        dependencies=API_DEPENDENCIES,
    )
    return Litestar(
        route_handlers=[api, HealthController, MetricsController],
        exception_handlers=EXCEPTION_HANDLERS,
        logging_config=None,
        lifespan=[lifespan],
        state=State({"container": container, "settings": settings, "jwt_secret": jwt_secret}),
        openapi_config=OpenAPIConfig(
            title="convo",
            version="1",
            description="A chat backend that delegates conversations to an Agent Service.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
    )
