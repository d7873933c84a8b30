"""`convo serve --workers N`: N processes serving one listening socket.

One Python process relays on one core; a machine with several serves more conversations with
a worker per core. Each worker is a whole instance (its own pools, scheduler and turns), the
same as instances on several machines, so the multi-instance rules hold: live events go
through Redis, turns are claimed and leased in PostgreSQL. The parent only binds the socket,
migrates the schema once and supervises: uvicorn's supervisor starts the workers, replaces one
that dies or stops answering its health check, and stops them all gracefully on SIGINT or
SIGTERM (SIGHUP replaces them one at a time, SIGTTIN / SIGTTOU add or remove one).
"""

from __future__ import annotations

import socket

import uvicorn
from litestar import Litestar
from uvicorn.supervisors import Multiprocess

from entrypoints.allocator import cap_malloc_arenas
from entrypoints.collector import tune_collector
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.logs import configure_logging
from entrypoints.settings import Settings, env_name, load_settings

WORKER_APP = "entrypoints.workers:worker_app"


def refusal(settings: Settings) -> str | None:
    """Why these settings cannot run several workers, or None when they can."""
    if settings.redis_url is None:
        return f"set {env_name('redis_url')}: workers share live events through Redis"
    if not settings.database_url.startswith("postgresql"):
        return (
            f"set {env_name('database_url')} to PostgreSQL: SQLite has a single writer and "
            "one process's lock"
        )
    if settings.agent_service_url is None:
        return (
            f"set {env_name('agent_service_url')}: the bundled reference Agent Service keeps "
            "its sessions in one process"
        )
    if settings.jwt_secret is None:
        return f"set {env_name('jwt_secret')}: every worker must accept the same tokens"
    return None


def uvicorn_config(settings: Settings, app: object, workers: int = 1) -> uvicorn.Config:
    """How `convo serve` runs uvicorn, in one process or in each worker."""
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        factory=isinstance(app, str),
        workers=workers,
        loop=settings.event_loop,
        log_config=None,
        http="httptools",
        ws="websockets-sansio",
        lifespan="on",
        timeout_graceful_shutdown=max(settings.shutdown_grace_s, 1),
    )


def serve_workers(settings: Settings, listener: socket.socket, workers: int) -> None:
    """Run `workers` processes on `listener` until SIGINT or SIGTERM; each builds its app
    from the same environment (`worker_app`)."""
    Multiprocess(uvicorn_config(settings, WORKER_APP, workers), sockets=[listener]).run()


def worker_app() -> Litestar:
    """The app of one worker process, its settings read from the environment it inherited."""
    settings = load_settings()
    configure_logging(settings.log_level)
    tune_collector(settings.gc_tuning)
    cap_malloc_arenas(settings.malloc_arenas)
    assert settings.jwt_secret is not None, "refusal() lets no worker start without a secret"
    return create_app(build_container(settings), settings.jwt_secret.reveal())
