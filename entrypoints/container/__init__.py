"""The composition root: the only package that knows every adapter.

Split by concern into infrastructure (process-wide resources), adapters (ports made real,
chosen by configuration), use cases, and the process's lifecycle and periodic jobs. Resources
are plain Singletons created inside the running loop and closed by `close_resources` from the
lifespan, so providers hand out objects rather than futures.
"""

from __future__ import annotations

from dependency_injector import containers, providers

from entrypoints.container.adapters import Adapters
from entrypoints.container.infrastructure import Infrastructure
from entrypoints.container.use_cases import UseCases
from entrypoints.settings import Settings


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    infrastructure = providers.Container(Infrastructure, settings=settings)
    adapters = providers.Container(Adapters, settings=settings, infrastructure=infrastructure)
    use_cases = providers.Container(
        UseCases, settings=settings, infrastructure=infrastructure, adapters=adapters
    )


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)
